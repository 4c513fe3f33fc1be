import type { Take } from './consistent-take.ts';
import { weakest } from './freeze-report.ts';
import { type Consistency, type Generation, type SnapshotRecord, stateFromSnapshots } from './generation.ts';
import type { CreatedSnapshot } from './ports.ts';
import type { PlannedTarget, Problem } from './selection.ts';
import { userTags } from './tags.ts';

/** How what the create calls made becomes the generation record, and what they missed. */

/** A generation as its snapshots recorded after an interrupted run say it is: crash-consistent, no freeze known. */
export function withSnapshots(
  generation: Generation,
  created: readonly CreatedSnapshot[],
  planned: PlannedTarget,
  region: string,
  takenAt: string,
): Generation {
  const members = planned.members ?? [planned];
  const mine = (m: PlannedTarget) =>
    created.filter((s) => m.volumes.some((v) => v.volumeId === s.volumeId) || members.length === 1);
  const take: Take = {
    takenAt,
    thawProblems: [],
    members: members.map((m) => ({
      planned: m,
      created: { snapshots: mine(m) },
      consistency: new Map<string, Consistency>(),
    })),
  };
  return fromTake(generation, take, region);
}

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
    const all: (CreatedSnapshot & { amiId?: string })[] = [...created.snapshots, ...imaged];
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
