import { type Generation, type SnapshotRecord, stateFromSnapshots } from '#core/model/generation.ts';
import { userTags } from '#core/model/tags.ts';
import type { Take } from './consistent-take.ts';
import { weakest } from './freeze-report.ts';
import type { CreatedSnapshot } from './ports.ts';
import type { PlannedTarget, Problem } from './selection.ts';

/** How what the create calls made becomes the generation record, and what they missed. */

/** The generation a take made: each snapshot with its volume, instance, AMI and the consistency it has. */
export function fromTake(generation: Generation, take: Take, region: string): Generation {
  const amiIds = new Set<string>();
  const snapshots: SnapshotRecord[] = take.members.flatMap(({ planned, created, consistency }) => {
    const volumes = new Map(planned.volumes.map((v) => [v.volumeId, v]));
    const attached = planned.instance?.volumes ?? [];
    const byDevice = new Map(attached.map((v) => [v.deviceName, v.volumeId]));
    if (created.amiId) amiIds.add(created.amiId);
    // An AMI's snapshots are found by device: EC2 reports the device it imaged, the run knows what was there.
    const imaged = (created.imageSnapshots ?? []).map((s) => ({
      ...s,
      volumeId: byDevice.get(s.deviceName) ?? `unknown:${s.deviceName}`,
      amiId: created.amiId,
    }));
    // Snapshots found by tag after a crash include the AMI's own: each is recorded once, with its AMI. On an AMI
    // schedule the boot volume only ever goes into the image, so its snapshot backs the AMI even before EC2
    // lists it under the image.
    const imagedIds = new Set(imaged.map((s) => s.snapshotId));
    const boot = created.amiId ? byDevice.get(planned.instance?.rootDeviceName ?? '') : undefined;
    const all: (CreatedSnapshot & { amiId?: string })[] = [
      ...created.snapshots
        .filter((s) => !imagedIds.has(s.snapshotId))
        .map((s) => (s.volumeId === boot ? { ...s, amiId: created.amiId } : s)),
      ...imaged,
    ];
    return all.map((snapshot): SnapshotRecord => {
      const volume = volumes.get(snapshot.volumeId);
      return {
        volumeId: snapshot.volumeId,
        snapshotId: snapshot.snapshotId,
        region,
        state: snapshot.state,
        consistency: consistency.get(snapshot.volumeId) ?? 'crash',
        deviceName: attached.find((v) => v.volumeId === snapshot.volumeId)?.deviceName,
        ...(planned.instance ? { instanceId: planned.instance.instanceId } : {}),
        ...(snapshot.amiId ? { amiId: snapshot.amiId } : {}),
        sizeGiB: volume?.sizeGiB,
        volumeType: volume?.volumeType,
        iops: volume?.iops,
        throughput: volume?.throughput,
        encrypted: volume?.encrypted,
        volumeTags: userTags(volume?.tags ?? {}),
      };
    });
  });
  // A generation adopted after an earlier delivery recorded a failure is what its snapshots say it is now.
  const { failure: _superseded, amiId: _ami, freezeWindowMs: _window, ...rest } = generation;
  // An AMI whose snapshots EC2 has not listed yet is still being made: pending, never failed for that.
  const imaging = snapshots.length === 0 && amiIds.size > 0;
  return {
    ...rest,
    takenAt: take.takenAt,
    snapshots,
    consistency: weakest(snapshots.map((s) => s.consistency)),
    state: imaging ? 'pending' : stateFromSnapshots(snapshots),
    ...(amiIds.size === 1 ? { amiId: [...amiIds][0] } : {}),
    ...(take.freezeWindowMs !== undefined ? { freezeWindowMs: take.freezeWindowMs } : {}),
  };
}

/** Planned volumes that no create call snapshotted: detached (or deleted) between planning and the snapshot. */
export function drift(planned: PlannedTarget, take: Take): Problem[] {
  const taken = new Set(
    take.members.flatMap(({ created, planned: m }) => [
      ...created.snapshots.map((s) => s.volumeId),
      ...(created.imageSnapshots ?? []).flatMap(
        (s) => m.instance?.volumes.find((v) => v.deviceName === s.deviceName)?.volumeId ?? [],
      ),
    ]),
  );
  const imagedBoot = new Set(
    take.members
      .flatMap(({ created, planned: m }) =>
        created.amiId
          ? (m.instance?.volumes.filter((v) => v.deviceName === m.instance?.rootDeviceName) ?? [])
          : [],
      )
      .map((v) => v.volumeId),
  );
  return planned.volumes
    .filter((v) => !taken.has(v.volumeId) && !imagedBoot.has(v.volumeId))
    .map((v) => ({
      resourceId: v.volumeId,
      problem: `not in generation ${planned.target.id}: detached or deleted between planning and the snapshot`,
    }));
}

/**
 * What an operator reading the generation later should know about how it was taken, kept on its record
 * (`notes`) and not only in the run's report: tag problems and drift that touched its volumes (multi-attach,
 * a detach mid-run), a freeze that failed so it was taken crash-consistent, thaws that were not confirmed, a
 * freeze that had ended before its thaw.
 */
export function notesOf(
  planned: PlannedTarget,
  problems: readonly Problem[],
  take: Pick<Take, 'freezeFailure' | 'thawProblems' | 'freezeNotes'>,
): string[] {
  const mine = new Set([
    ...planned.volumes.map((v) => v.volumeId),
    ...planned.excluded.map((e) => e.volumeId),
    ...(planned.members ?? [planned]).flatMap((m) => (m.instance ? [m.instance.instanceId] : [])),
  ]);
  return [
    ...problems.filter((p) => mine.has(p.resourceId)).map((p) => `${p.resourceId}: ${p.problem}`),
    ...(take.freezeFailure
      ? [`freeze failed; taken crash-consistent (onFailure: crash): ${take.freezeFailure}`]
      : []),
    ...take.thawProblems.map((p) => `thaw not confirmed: ${p}`),
    ...(take.freezeNotes ?? []),
  ];
}
