import type { ScheduleRule } from '#core/config/config.ts';
import type { Generation } from '#core/model/generation.ts';
import { type MarkKey, markOf } from '#core/model/mark.ts';
import type { Log, Tags, Timer } from '#core/model/ports.ts';
import { snapshotTags, TAG, userTags } from '#core/model/tags.ts';
import { daysAfter } from '#core/model/time.ts';
import type { MemberCreated, Take } from './consistent-take.ts';
import { createOnce, imageMade, snapshotsMade } from './create-once.ts';
import type { Account, ImageService, SnapshotService } from './ports.ts';
import type { PlannedTarget } from './selection.ts';

/** What the create calls of a run need. */
export interface CreateDeps {
  snapshots: SnapshotService;
  images?: ImageService;
  /** Whose snapshots a create whose answer was lost may have made. */
  account: Account;
  timer?: Timer;
  log: Log;
  /** The key every create marks its resources with (`core/model/mark.ts`). */
  markKey: MarkKey;
}

/**
 * The create calls of one member of a generation, made inside the freeze: one `CreateSnapshots` for an
 * instance, one `CreateSnapshot` for a volume, and on AMI schedules a `CreateImage` of the boot volume next to
 * a `CreateSnapshots` of the data volumes. Everything is tagged at creation, with its mark. Without the mark key
 * nothing is created: a snapshot snapkeeper could never prove its own would be kept forever.
 */
export function memberCreator(
  generation: Generation,
  policyTags: Tags,
  rule: ScheduleRule,
  deps: CreateDeps,
) {
  const description = `snapkeeper ${generation.policy}/${generation.schedule} ${generation.id}`;
  const group = generation.target.kind === 'group' ? generation.target.id.replace(/^group:/, '') : undefined;
  // Read now, before any freeze begins, so the freeze window never waits on it; awaited at the first create.
  const secret = deps.markKey.secret();
  secret.catch(() => undefined); // a failure surfaces where it is awaited, not as an unhandled rejection
  return async (member: PlannedTarget): Promise<MemberCreated> => {
    const keyBytes = await secret;
    const generationId = generation.id;
    // Each member's snapshots name their own instance (and `$(instance-id)` expands to it), not the group.
    const context = { ...generation, generationId, target: member.target, policyTags };
    if (member.target.kind === 'volume') {
      const volume = member.volumes[0];
      if (!volume) throw new Error('a volume target has no volume');
      const snapshots = await createOnce(
        'CreateSnapshot',
        async () => [
          await deps.snapshots.snapshotVolume({
            volumeId: volume.volumeId,
            tags: snapshotTags(
              {
                ...context,
                mark: markOf(keyBytes, { kind: 'volume', generationId, volumeId: volume.volumeId }),
              },
              volume.tags,
            ),
            description,
          }),
        ],
        () => snapshotsMade(generation, member, deps),
        deps.log,
      );
      return { snapshots };
    }
    const instance = member.instance;
    if (!instance) throw new Error('an instance target has no instance');
    const instanceTags = (kind: 'instance' | 'image') => ({
      ...snapshotTags({
        ...context,
        mark: markOf(keyBytes, { kind, generationId, instanceId: instance.instanceId }),
      }),
      ...(group ? { [TAG.group]: group } : {}),
    });
    const tags = instanceTags('instance');
    const excludeVolumeIds = member.excluded.filter((e) => e.reason !== 'boot-volume').map((e) => e.volumeId);
    const snapshotSet = (excludeBootVolume: boolean) =>
      createOnce(
        'CreateSnapshots',
        () => takeSet(excludeBootVolume),
        () => snapshotsMade(generation, member, deps),
        deps.log,
      );
    const takeSet = (excludeBootVolume: boolean) =>
      deps.snapshots.snapshotInstance({
        instanceId: instance.instanceId,
        excludeBootVolume,
        excludeVolumeIds,
        tags,
        // One CreateSnapshots call gives every snapshot the same tags; AWS copies each volume's own tags onto
        // its snapshot only when asked. Ask unless a volume tag would collide with one of ours.
        copyVolumeTags: member.volumes.every((v) =>
          Object.keys(userTags(v.tags)).every((key) => !(key in tags)),
        ),
        description,
      });
    if (!rule.ami)
      return { snapshots: await snapshotSet(member.excluded.some((e) => e.reason === 'boot-volume')) };

    if (!deps.images) throw new Error('AMI schedule without an image service');
    const boot = instance.volumes.find((v) => v.deviceName === instance.rootDeviceName);
    const dataDevices = instance.volumes.filter((v) => v !== boot);
    const snapshotData =
      (rule.amiDataVolumes ?? 'snapshot') === 'snapshot' &&
      dataDevices.some((d) => member.volumes.some((v) => v.volumeId === d.volumeId));
    // The image is the boot volume alone; data volumes go into their own snapshot set, or nowhere.
    const images = deps.images;
    const [amiId, snapshots] = await Promise.all([
      createOnce(
        'CreateImage',
        () =>
          images.createImage({
            instanceId: instance.instanceId,
            name: `snapkeeper ${generation.id} ${instance.instanceId}`,
            description,
            tags: instanceTags('image'),
            excludeDeviceNames: dataDevices.map((d) => d.deviceName),
          }),
        () => imageMade(generation, member, deps),
        deps.log,
      ),
      snapshotData ? snapshotSet(true) : Promise.resolve([]),
    ]);
    return { snapshots, amiId };
  };
}

/**
 * After the thaw: finds each AMI's snapshots (EC2 may list them a moment after CreateImage returns) and
 * deprecates the AMI when the schedule says so. A deprecation that fails is logged, never fatal: the AMI is
 * a good backup either way.
 */
export async function finishImages(take: Take, rule: ScheduleRule, deps: CreateDeps): Promise<void> {
  const images = deps.images;
  if (!images) return;
  await Promise.all(
    take.members.map(async ({ created }) => {
      const amiId = created.amiId;
      if (!amiId) return;
      // A describe that fails must not fail the generation: the AMI exists and is recorded by its id either way.
      // An adopted AMI may come with its snapshots already listed.
      for (let attempt = 0; attempt < 5 && !created.imageSnapshots?.length; attempt++) {
        created.imageSnapshots = await images.imageSnapshots(amiId).catch((error: unknown) => {
          deps.log.warn('AMI snapshots not listed', { amiId, attempt, error });
          return [];
        });
        if (created.imageSnapshots.length === 0) await deps.timer?.sleep(500 * 2 ** attempt);
      }
      if (rule.deprecateAfterDays === undefined) return;
      const at = daysAfter(take.takenAt, rule.deprecateAfterDays);
      try {
        await images.deprecate(amiId, at);
      } catch (error) {
        deps.log.error('AMI deprecation failed', { amiId, at, error });
      }
    }),
  );
}
