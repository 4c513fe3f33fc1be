import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { AuditTrail, CatalogReader } from '#core/model/catalog.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { awsRegion } from '#core/model/regions.ts';
import type { VolumeInitialization, VolumeService } from './ports.ts';
import { auditRunbook, parseRequest, refuse } from './request.ts';
import {
  carriedTags,
  findSource,
  generationIdField,
  isoTime,
  type Source,
  type SourceRequest,
  volumeIdField,
} from './source.ts';
import { type VolumeShape, volumeOptionFields, volumeShape, volumeShapeProblems } from './volume-options.ts';

export const RESTORE_VOLUME = 'restore-volume';

/** The fields of the restore-volume runbook's request (SPEC §6). */
export const restoreVolumeFields = {
  /** The source volume: restore its newest completed generation at or before `at`. */
  volumeId: volumeIdField.optional(),
  /** Restore this generation instead; with `volumeId`, that volume of it. */
  generationId: generationIdField.optional(),
  /** The point in time (ISO-8601); default now. */
  at: isoTime.optional(),
  /** The zone of the new volume, in `region`. */
  availabilityZone: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an Availability Zone such as us-east-1a'),
  /** Restore in this copy Region, from the generation's DR copy there; default the primary Region. */
  region: awsRegion.optional(),
  ...volumeOptionFields,
  /** Resolve and check everything the real call would, create nothing. */
  dryRun: z.boolean().default(false),
  /** Makes retries of one request return the same volume (the Lambda passes its request id); without it,
   * every request is a new restore. */
  idempotencyToken: z.string().min(1).max(64).optional(),
};

/** A request names what to restore: a volume (its newest generation at or before `at`) or a generation. */
export const namesWhatToRestore = [
  (r: SourceRequest) => Boolean(r.volumeId || r.generationId),
  { message: 'give {volumeId} (restore its newest generation at or before {at}) or {generationId}' },
] as const;

/** The restore-volume runbook's request (SPEC §6), shared by the Lambda and the CLI. */
export const RestoreVolumeRequestSchema = z.strictObject(restoreVolumeFields).refine(...namesWhatToRestore);

/** A validated restore request: the Lambda's event middleware or `parseRestoreRequest` made it. */
export type RestoreVolumeRequest = z.output<typeof RestoreVolumeRequestSchema>;

/** Validates a restore request from outside (the CLI's flags); a `RequestError` names each bad field. */
export function parseRestoreRequest(input: unknown): RestoreVolumeRequest {
  return parseRequest(RESTORE_VOLUME, RestoreVolumeRequestSchema, input);
}

/** When the restored volume could be used, for an honest recovery time. */
export interface RestoreTimes {
  requestedAt: string;
  /** When the volume was `available` (attachable); null on a dry run. */
  availableAt: string | null;
  /** Whether EBS has written every block yet: until then reads of blocks not yet fetched are slow. */
  initialization: VolumeInitialization | null;
}

export interface RestoreVolumeResult extends RestoreTimes {
  volumeId: string | null;
  generationId: string;
  sourceSnapshotId: string;
  region: string;
  availabilityZone: string;
  /** The new volume's type, IOPS, throughput, size and initialization rate, as asked of CreateVolume. */
  volume: VolumeShape;
  dryRun: boolean;
}

/** How long a runbook waits for a volume or an instance it made to become usable, unless its deps say otherwise. */
export const DEFAULT_WAIT_MS = 10 * 60 * 1000;

export interface RestoreDeps {
  config: Config;
  /** Reads only, and the audit trail: a restore never writes a generation, so it also runs on the manifests. */
  catalog: CatalogReader & AuditTrail;
  volumes: VolumeService;
  clock: Clock;
  log: Log;
  /** Who asked, for the audit entry. */
  actor: string;
  waitTimeoutMs?: number;
}

/**
 * restore-volume: a new volume from the newest completed generation at or before `at`, waited until available.
 * The request was validated at the boundary (see `RestoreVolumeRequest`); it is not parsed again here. A dry
 * run checks all that CreateVolume would: the zone, the Region, the volume options against the snapshot.
 */
export async function restoreVolume(
  request: RestoreVolumeRequest,
  deps: RestoreDeps,
): Promise<RestoreVolumeResult> {
  const requestedAt = deps.clock.now().toISOString();
  const region = request.region ?? deps.config.region;
  await checkZone(request.availabilityZone, region, request.region !== undefined, deps.volumes);
  const at = request.at ? new Date(request.at).toISOString() : requestedAt;
  const source = await findSource(RESTORE_VOLUME, request, at, region, deps);
  const shape = volumeShape(request, source.snapshot);
  refuse(RESTORE_VOLUME, volumeShapeProblems(shape, source.snapshot));
  const base = {
    generationId: source.generation.id,
    sourceSnapshotId: source.snapshotId,
    region,
    availabilityZone: request.availabilityZone,
  };
  deps.log.info('restore planned', {
    ...base,
    sourceVolumeId: source.snapshot.volumeId,
    takenAt: source.generation.takenAt,
    dryRun: request.dryRun,
  });

  let volumeId: string | null = null;
  let times: RestoreTimes = { requestedAt, availableAt: null, initialization: null };
  if (!request.dryRun) {
    const token = idempotencyToken(base, request.idempotencyToken);
    volumeId = await createRestoredVolume(source, request.availabilityZone, shape, token, deps);
    times = await availability(region, volumeId, requestedAt, deps);
  }
  const result = { volumeId, ...base, volume: shape, ...times, dryRun: request.dryRun };
  await auditRunbook(deps, RESTORE_VOLUME, request, result);
  return result;
}

/**
 * The zone must be one of the Region's. `regionAsked`: the request named the Region, so a zone of another is the
 * zone's mistake; otherwise the Region is the primary, and either may be meant.
 */
async function checkZone(zone: string, region: string, regionAsked: boolean, volumes: VolumeService) {
  if (!zone.startsWith(region)) {
    refuse(RESTORE_VOLUME, [
      {
        field: 'availabilityZone',
        message: `${zone} is not in Region ${region}; pick a zone of ${region}${regionAsked ? '' : ', or set {region}'}`,
      },
    ]);
  }
  const zones = await volumes.availabilityZones(region);
  if (!zones.includes(zone)) {
    refuse(RESTORE_VOLUME, [
      {
        field: 'availabilityZone',
        message: `${zone} does not exist; zones of ${region}: ${zones.join(', ')}`,
      },
    ]);
  }
}

/** CreateVolume from the source with its tags carried, as every runbook that restores a volume does it. */
export function createRestoredVolume(
  source: Source,
  availabilityZone: string,
  shape: VolumeShape,
  idempotencyToken: string,
  deps: { volumes: VolumeService; log: Log },
): Promise<string> {
  return deps.volumes
    .createVolume({
      region: source.region,
      snapshotId: source.snapshotId,
      availabilityZone,
      ...shape,
      tags: carriedTags(source),
      idempotencyToken,
    })
    .then((volumeId) => {
      deps.log.info('restore volume created', { volumeId, generationId: source.generation.id });
      return volumeId;
    });
}

/** Waits until the volume is available, then asks how far its initialization is: the two halves of the RTO. */
export async function availability(
  region: string,
  volumeId: string,
  requestedAt: string,
  deps: { volumes: VolumeService; clock: Clock; log: Log; waitTimeoutMs?: number },
): Promise<RestoreTimes> {
  await deps.volumes.waitUntilAvailable(region, volumeId, {
    timeoutMs: deps.waitTimeoutMs ?? DEFAULT_WAIT_MS,
    onWait: (state, waitedMs) => deps.log.info('waiting for restored volume', { volumeId, state, waitedMs }),
  });
  const availableAt = deps.clock.now().toISOString();
  const initialization = await deps.volumes.initialization(region, volumeId, deps.clock.now());
  deps.log.info('restore volume available', { volumeId, availableAt, initialization: initialization.state });
  return { requestedAt, availableAt, initialization };
}

/** A CreateVolume client token: the same request (and token) gives the same one, so a retry finds its volume. */
export function idempotencyToken(base: Record<string, string>, token: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...base, token: token ?? randomUUID() }))
    .digest('hex')
    .slice(0, 64);
}
