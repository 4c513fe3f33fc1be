import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { CatalogReader } from '#core/model/catalog.ts';
import { NotFoundError } from '#core/model/errors.ts';
import { type Generation, type SnapshotRecord, usableCopyIn } from '#core/model/generation.ts';
import { RequestError, refuse } from './request.ts';
import { namedGeneration, notACopyRegion, restorableIn } from './source.ts';

/**
 * What restore-instance launches from: an AMI generation of an instance (the AMI images its boot volume, the
 * generation's other snapshots are its data volumes, `core/backup/member-create.ts`), named or the newest of the
 * instance at or before a time, with the AMI and data snapshots as they are in the Region asked for: the
 * originals at home, the generation's DR copies elsewhere.
 */

export const instanceIdField = z
  .string()
  .regex(/^i-[0-9a-f]{8,17}$/, 'must be an instance id such as i-0123456789abcdef0');

/** A data volume of the generation, to restore at its device. */
export interface DataVolumeSource {
  deviceName: string;
  /** The snapshot in the Region restored in: the original, or its completed DR copy. */
  snapshotId: string;
  snapshot: SnapshotRecord;
}

export interface ImageSource {
  generation: Generation;
  /** The instance the generation imaged. */
  instanceId: string;
  /** The AMI in the Region restored in: the generation's, or its completed DR copy. */
  imageId: string;
  region: string;
  dataVolumes: DataVolumeSource[];
}

/**
 * The AMI generation to launch from: `generationId`, or the newest restorable AMI generation of `instanceId`
 * taken at or before `at`. Each refusal names the field to change and points at restore-volume when the
 * generation holds volumes only.
 */
export async function findImageSource(
  runbook: string,
  request: { instanceId?: string; generationId?: string },
  at: string,
  region: string,
  deps: { config: Config; catalog: CatalogReader },
): Promise<ImageSource> {
  const primary = deps.config.region;
  if (region !== primary) refuse(runbook, notACopyRegion(deps.config, region));
  const generation = request.generationId
    ? await namedGeneration(runbook, request.generationId, region, deps)
    : await newestImageGeneration(runbook, request.instanceId as string, at, region, deps);
  const instanceId = imagedInstance(runbook, generation, request.instanceId);
  const amiId = imageOf(generation, instanceId);
  if (!amiId) {
    refuse(runbook, [
      {
        field: request.generationId ? 'generationId' : 'instanceId',
        message: `generation ${generation.id} holds volume snapshots, no AMI, so there is no instance to launch from it; restore its volumes with restore-volume (snapkeeper restore --generation ${generation.id} --volume <id> --az <zone>), or back the instance up with "ami": true`,
      },
    ]);
  }
  const image = amiId as string;
  const data = generation.snapshots.filter(
    (s) => !s.amiId && (s.instanceId ?? instanceId) === instanceId && s.deviceName,
  );
  return {
    generation,
    instanceId,
    region,
    imageId: region === primary ? image : imageCopyIn(generation, image, region),
    dataVolumes: data.map((snapshot) => ({
      deviceName: snapshot.deviceName as string,
      snapshotId: region === primary ? snapshot.snapshotId : snapshotCopyIn(generation, snapshot, region),
      snapshot,
    })),
  };
}

/** The AMI of the instance in the generation: a group generation has one per member. */
function imageOf(generation: Generation, instanceId: string): string | undefined {
  return (
    generation.snapshots.find((s) => s.amiId && (s.instanceId ?? instanceId) === instanceId)?.amiId ??
    generation.amiId
  );
}

function imagedInstance(runbook: string, generation: Generation, asked: string | undefined): string {
  const { target } = generation;
  if (target.kind === 'volume') {
    refuse(runbook, [
      {
        field: 'generationId',
        message: `generation ${generation.id} is of volume ${target.id}, not of an instance; restore it with restore-volume (snapkeeper restore --generation ${generation.id} --az <zone>)`,
      },
    ]);
  }
  const members = target.kind === 'group' ? (target.members ?? []) : [target.id];
  if (asked && members.includes(asked)) return asked;
  if (asked || members.length !== 1) {
    refuse(runbook, [
      {
        field: 'instanceId',
        message: `generation ${generation.id} is of ${members.join(', ')}${asked ? `, not of ${asked}` : `; say which with {instanceId}`}`,
      },
    ]);
  }
  return members[0] as string;
}

async function newestImageGeneration(
  runbook: string,
  instanceId: string,
  at: string,
  region: string,
  deps: { config: Config; catalog: CatalogReader },
): Promise<Generation> {
  const primary = deps.config.region;
  let seen = 0;
  // Newest first, a small page at a time, as restore-volume looks (source.ts): the newest is almost always near.
  for (let limit = 8; ; limit *= 4) {
    const page = await deps.catalog.byTarget(instanceId, { atOrBefore: at, limit });
    seen = page.length;
    const found = page.find(
      (g) =>
        imageOf(g, instanceId) !== undefined &&
        restorableIn(g, region, primary) &&
        (g.takenAt ?? g.scheduledAt) <= at,
    );
    if (found) return found;
    if (page.length < limit) break;
  }
  const inRegion = region === primary ? '' : ` with a completed copy in ${region}`;
  const any = seen > 0 || (await deps.catalog.byTarget(instanceId, { limit: 1 })).length > 0;
  throw new RequestError(runbook, [
    any
      ? {
          field: 'at',
          message: `no completed AMI generation of ${instanceId}${inRegion} taken at or before ${at}; list its generations with: snapkeeper generations --instance ${instanceId} (a generation of volume snapshots restores with restore-volume)`,
        }
      : {
          field: 'instanceId',
          message: `${instanceId} has no generation in the catalog: snapkeeper never backed it up; check the id (snapkeeper generations lists what is backed up)`,
        },
  ]);
}

function imageCopyIn(generation: Generation, amiId: string, region: string): string {
  const copied = usableCopyIn(generation, region)?.images.find(
    (i) => i.sourceImageId === amiId && i.state === 'available',
  )?.imageId;
  if (!copied) {
    throw new NotFoundError(
      `generation ${generation.id} has no available copy of AMI ${amiId} in ${region}; list its copies with: snapkeeper generations --instance ${generation.target.id}`,
    );
  }
  return copied;
}

function snapshotCopyIn(generation: Generation, snapshot: SnapshotRecord, region: string): string {
  const copied = usableCopyIn(generation, region)?.snapshots.find(
    (s) => s.sourceSnapshotId === snapshot.snapshotId && s.state === 'completed',
  )?.snapshotId;
  if (!copied) {
    throw new NotFoundError(
      `generation ${generation.id} has no completed copy of ${snapshot.snapshotId} (${snapshot.volumeId} at ${snapshot.deviceName}) in ${region}`,
    );
  }
  return copied;
}
