import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { AuditTrail, CatalogReader } from '#core/model/catalog.ts';
import { InputError, NotFoundError } from '#core/model/errors.ts';
import { type Generation, type SnapshotRecord, usableCopyIn } from '#core/model/generation.ts';
import type { Clock, Log, Tags } from '#core/model/ports.ts';
import { awsRegion } from '#core/model/regions.ts';
import { TAG } from '#core/model/tags.ts';
import type { VolumeService } from './ports.ts';

const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time such as 2026-11-21T03:00:00Z',
});

/** The fields of the restore-volume runbook's request (SPEC §6). */
export const restoreVolumeFields = {
  volumeId: z
    .string()
    .regex(/^vol-[0-9a-f]+$/, 'must be a volume id such as vol-0123456789abcdef0')
    .optional(),
  generationId: z
    .string()
    .regex(/^gen-/, 'must be a generation id such as gen-20261121T030000-1a2b3c4d5e')
    .optional(),
  at: isoTime.optional(),
  availabilityZone: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be an Availability Zone such as us-east-1a'),
  region: awsRegion.optional(),
  volumeType: z.enum(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']).optional(),
  iops: z.number().int().positive().optional(),
  throughput: z.number().int().positive().optional(),
  kmsKeyId: z.string().min(1).optional(),
  dryRun: z.boolean().default(false),
  /** Makes retries of one request return the same volume (the Lambda passes its request id); without it,
   * every request is a new restore. */
  idempotencyToken: z.string().min(1).max(64).optional(),
};

/** A request names what to restore: a volume (its newest generation at or before `at`) or a generation. */
export const namesWhatToRestore = [
  (r: { volumeId?: string; generationId?: string }) => Boolean(r.volumeId || r.generationId),
  { message: 'give volumeId (restore its newest generation at or before `at`) or generationId' },
] as const;

/** The restore-volume runbook's request (SPEC §6), shared by the Lambda and the CLI. */
export const RestoreVolumeRequestSchema = z.strictObject(restoreVolumeFields).refine(...namesWhatToRestore);

/** A validated restore request: the Lambda's event middleware or `parseRestoreRequest` made it. */
export type RestoreVolumeRequest = z.output<typeof RestoreVolumeRequestSchema>;

/** Validates a restore request from outside (the CLI's flags); an `InputError` names each bad field. */
export function parseRestoreRequest(input: unknown): RestoreVolumeRequest {
  const parsed = RestoreVolumeRequestSchema.safeParse(input);
  if (!parsed.success) throw new InputError(`bad restore request: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface RestoreVolumeResult {
  volumeId: string | null;
  generationId: string;
  sourceSnapshotId: string;
  region: string;
  availabilityZone: string;
  dryRun: boolean;
}

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
 * The request was validated at the boundary (see `RestoreVolumeRequest`); it is not parsed again here.
 */
export async function restoreVolume(
  request: RestoreVolumeRequest,
  deps: RestoreDeps,
): Promise<RestoreVolumeResult> {
  const region = request.region ?? deps.config.region;
  if (!request.availabilityZone.startsWith(region)) {
    throw new InputError(
      `availabilityZone ${request.availabilityZone} is not in Region ${region}; pick a zone of ${region}, or set region`,
    );
  }
  const zones = await deps.volumes.availabilityZones(region);
  if (!zones.includes(request.availabilityZone)) {
    throw new InputError(
      `availabilityZone ${request.availabilityZone} does not exist; zones of ${region}: ${zones.join(', ')}`,
    );
  }

  const at = request.at ? new Date(request.at).toISOString() : deps.clock.now().toISOString();
  const generation = await chooseGeneration(request, at, region, deps);
  const snapshot = pickSnapshot(generation, request.volumeId);
  const sourceSnapshotId = snapshotIn(region, generation, snapshot, deps.config.region);
  const base = {
    generationId: generation.id,
    sourceSnapshotId,
    region,
    availabilityZone: request.availabilityZone,
  };
  deps.log.info('restore planned', {
    ...base,
    sourceVolumeId: snapshot.volumeId,
    takenAt: generation.takenAt,
    dryRun: request.dryRun,
  });

  let volumeId: string | null = null;
  if (!request.dryRun) {
    volumeId = await deps.volumes.createVolume({
      region,
      snapshotId: sourceSnapshotId,
      availabilityZone: request.availabilityZone,
      volumeType: request.volumeType ?? snapshot.volumeType,
      iops: request.iops ?? (request.volumeType ? undefined : snapshot.iops),
      throughput: request.throughput ?? (request.volumeType ? undefined : snapshot.throughput),
      kmsKeyId: request.kmsKeyId,
      tags: restoredTags(snapshot, generation),
      idempotencyToken: idempotencyToken(base, request.idempotencyToken),
    });
    deps.log.info('restore volume created', { ...base, volumeId });
    await deps.volumes.waitUntilAvailable(region, volumeId, {
      timeoutMs: deps.waitTimeoutMs ?? 10 * 60 * 1000,
      onWait: (state, waitedMs) =>
        deps.log.info('waiting for restored volume', { volumeId, state, waitedMs }),
    });
    deps.log.info('restore volume available', { ...base, volumeId });
  }
  const result = { volumeId, ...base, dryRun: request.dryRun };
  await deps.catalog.audit({
    at: deps.clock.now().toISOString(),
    action: 'restore-volume',
    actor: deps.actor,
    dryRun: request.dryRun,
    request: { ...request },
    result: { ...result },
  });
  return result;
}

/**
 * Whether a generation can be restored in `region`: in the primary Region its own snapshots, elsewhere its
 * completed DR copy there; neither once deleted (a copy and the primary are pruned on their own).
 */
export function restorableIn(generation: Generation, region: string, primary: string): boolean {
  if (region === primary) return generation.state === 'completed' && !generation.deletedAt;
  return usableCopyIn(generation, region) !== undefined;
}

async function chooseGeneration(
  request: z.output<typeof RestoreVolumeRequestSchema>,
  at: string,
  region: string,
  deps: RestoreDeps,
): Promise<Generation> {
  const { catalog } = deps;
  const primary = deps.config.region;
  if (request.generationId) {
    const generation = await catalog.get(request.generationId);
    if (!generation) throw new NotFoundError(`generation ${request.generationId} is not in the catalog`);
    if (region === primary && (generation.state !== 'completed' || generation.deletedAt)) {
      throw new InputError(
        `generation ${generation.id} is ${generation.deletedAt ? 'deleted' : generation.state}; only a completed generation can be restored`,
      );
    }
    if (!restorableIn(generation, region, primary)) {
      const copy = generation.copies.find((c) => c.region === region);
      const where = [
        primary,
        ...generation.copies.filter((c) => restorableIn(generation, c.region, primary)).map((c) => c.region),
      ];
      throw new NotFoundError(
        `generation ${generation.id} has no ${copy?.deletedAt ? 'undeleted' : 'completed'} copy in ${region}${copy ? ` (its copy there is ${copy.deletedAt ? 'deleted' : copy.state})` : ''}; restorable in: ${where.join(', ')}`,
      );
    }
    return generation;
  }
  const volumeId = request.volumeId as string;
  // Newest first, a small page at a time: the newest restorable generation is almost always among the first
  // few, so what is read does not grow with the length of the history. The index orders by scheduledAt; a
  // generation is taken at or after it is scheduled, so takenAt decides.
  for (let limit = 8; ; limit *= 4) {
    const page = await catalog.byVolume(volumeId, { atOrBefore: at, limit });
    const found = page.find((g) => restorableIn(g, region, primary) && (g.takenAt ?? g.scheduledAt) <= at);
    if (found) return found;
    if (page.length < limit) break;
  }
  const inRegion = region === primary ? '' : ` with a completed copy in ${region}`;
  throw new NotFoundError(
    `no completed generation of ${volumeId}${inRegion} taken at or before ${at}; list them with: snapkeeper generations --volume ${volumeId}`,
  );
}

function pickSnapshot(generation: Generation, volumeId: string | undefined): SnapshotRecord {
  if (volumeId) {
    const snapshot = generation.snapshots.find((s) => s.volumeId === volumeId);
    if (!snapshot) throw new InputError(`generation ${generation.id} holds no snapshot of ${volumeId}`);
    return snapshot;
  }
  const [only, ...more] = generation.snapshots;
  if (!only || more.length > 0) {
    const volumes = generation.snapshots.map((s) => s.volumeId).join(', ');
    throw new InputError(
      `generation ${generation.id} holds ${generation.snapshots.length} volumes (${volumes}); say which with volumeId`,
    );
  }
  return only;
}

/** The snapshot to restore from in the requested Region: the original, or its completed DR copy. */
function snapshotIn(
  region: string,
  generation: Generation,
  snapshot: SnapshotRecord,
  primary: string,
): string {
  if (region === primary) return snapshot.snapshotId;
  const copy = usableCopyIn(generation, region);
  const copied = copy?.snapshots.find((s) => s.sourceSnapshotId === snapshot.snapshotId)?.snapshotId;
  if (!copied) {
    throw new NotFoundError(
      `generation ${generation.id} has no completed copy of ${snapshot.snapshotId} (${snapshot.volumeId}) in ${region}`,
    );
  }
  return copied;
}

/**
 * The source volume's tags travel to the restored volume, with where it came from. Like everything snapkeeper
 * creates it carries `snapkeeper:managed=true` (SPEC §3), which is also what IAM requires of CreateVolume; it
 * has no catalog record, so retention can never touch it.
 */
function restoredTags(snapshot: SnapshotRecord, generation: Generation): Tags {
  return {
    ...snapshot.volumeTags,
    [TAG.managed]: 'true',
    [TAG.restoredFrom]: generation.id,
    [TAG.sourceVolume]: snapshot.volumeId,
  };
}

function idempotencyToken(base: Record<string, string>, token: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify({ ...base, token: token ?? randomUUID() }))
    .digest('hex')
    .slice(0, 64);
}
