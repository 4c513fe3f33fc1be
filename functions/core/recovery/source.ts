import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { CatalogReader } from '#core/model/catalog.ts';
import { NotFoundError } from '#core/model/errors.ts';
import { type Generation, type SnapshotRecord, usableCopyIn } from '#core/model/generation.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { type FieldProblem, refuse } from './request.ts';

/**
 * What every runbook restores from: a generation (named, or the newest of a volume at or before a time), one
 * snapshot of it, in the primary Region or a copy Region, and the tags it carries to what it creates.
 */

export const isoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time such as 2026-11-21T03:00:00Z',
});

export const volumeIdField = z
  .string()
  .regex(/^vol-[0-9a-f]{8,17}$/, 'must be a volume id such as vol-0123456789abcdef0');

/** Generation ids are `gen-<yyyymmddThhmmss>-<10 hex>` (core/model/generation.ts). */
export const generationIdField = z
  .string()
  .regex(
    /^gen-\d{8}T\d{6}-[0-9a-f]{10}$/,
    'must be a generation id such as gen-20261121T030000-1a2b3c4d5e (see snapkeeper generations)',
  );

/** What identifies the source in a request. */
export interface SourceRequest {
  volumeId?: string;
  generationId?: string;
  at?: string;
}

/** The generation and snapshot a runbook restores from, and where. */
export interface Source {
  generation: Generation;
  snapshot: SnapshotRecord;
  /** The snapshot in `region`: the original, or its completed DR copy. */
  snapshotId: string;
  region: string;
}

/**
 * Finds what to restore: the generation named, or the newest completed one of the volume taken at or before
 * `at` (ISO, already resolved against the clock), and its snapshot of the volume, in `region`.
 */
export async function findSource(
  runbook: string,
  request: SourceRequest,
  at: string,
  region: string,
  deps: { config: Config; catalog: CatalogReader },
): Promise<Source> {
  const primary = deps.config.region;
  if (region !== primary) refuse(runbook, notACopyRegion(deps.config, region));
  const generation = request.generationId
    ? await namedGeneration(runbook, request.generationId, region, deps)
    : await newestGeneration(request.volumeId as string, at, region, deps);
  const snapshot = pickSnapshot(runbook, generation, request.volumeId);
  return { generation, snapshot, snapshotId: snapshotIn(region, generation, snapshot, primary), region };
}

/**
 * Whether a generation can be restored in `region`: in the primary Region its own snapshots, elsewhere its
 * completed DR copy there; neither once deleted (a copy and the primary are pruned on their own).
 */
export function restorableIn(generation: Generation, region: string, primary: string): boolean {
  if (region === primary) return generation.state === 'completed' && !generation.deletedAt;
  return usableCopyIn(generation, region) !== undefined;
}

/** A Region no policy copies to has nothing to restore from. */
export function notACopyRegion(config: Config, region: string): FieldProblem[] {
  const copying = config.policies.filter((p) => p.copies.length > 0);
  if (copying.some((p) => p.copies.some((c) => c.region === region))) return [];
  const where = copying.map((p) => `${p.copies.map((c) => c.region).join(', ')} (policy ${p.name})`);
  return [
    {
      field: 'region',
      message: `${region} is no copy Region of any policy; ${where.length ? `copies go to ${where.join('; ')}` : 'no policy copies to another Region'}; leave {region} out to restore in ${config.region}`,
    },
  ];
}

/** The generation named, restorable in `region`: refused (or not found) naming why otherwise. */
export async function namedGeneration(
  runbook: string,
  generationId: string,
  region: string,
  deps: { config: Config; catalog: CatalogReader },
): Promise<Generation> {
  const primary = deps.config.region;
  const generation = await deps.catalog.get(generationId);
  if (!generation) {
    throw new NotFoundError(
      `generation ${generationId} is not in the catalog; list them with: snapkeeper generations`,
    );
  }
  const policy = deps.config.policies.find((p) => p.name === generation.policy);
  if (region !== primary && policy && !policy.copies.some((c) => c.region === region)) {
    const to = policy.copies.map((c) => c.region);
    refuse(runbook, [
      {
        field: 'region',
        message: `${region} is no copy Region of policy ${policy.name}; its copies go to ${to.length ? to.join(', ') : 'no other Region'}`,
      },
    ]);
  }
  if (region === primary && (generation.state !== 'completed' || generation.deletedAt)) {
    refuse(runbook, [
      {
        field: 'generationId',
        message: `generation ${generation.id} is ${generation.deletedAt ? 'deleted' : generation.state}; only a completed generation can be restored`,
      },
    ]);
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

async function newestGeneration(
  volumeId: string,
  at: string,
  region: string,
  deps: { config: Config; catalog: CatalogReader },
): Promise<Generation> {
  const primary = deps.config.region;
  // Newest first, a small page at a time: the newest restorable generation is almost always among the first
  // few, so what is read does not grow with the length of the history. The index orders by scheduledAt; a
  // generation is taken at or after it is scheduled, so takenAt decides.
  for (let limit = 8; ; limit *= 4) {
    const page = await deps.catalog.byVolume(volumeId, { atOrBefore: at, limit });
    const found = page.find((g) => restorableIn(g, region, primary) && (g.takenAt ?? g.scheduledAt) <= at);
    if (found) return found;
    if (page.length < limit) break;
  }
  const inRegion = region === primary ? '' : ` with a completed copy in ${region}`;
  throw new NotFoundError(
    `no completed generation of ${volumeId}${inRegion} taken at or before ${at}; list them with: snapkeeper generations --volume ${volumeId}`,
  );
}

function pickSnapshot(runbook: string, generation: Generation, volumeId: string | undefined): SnapshotRecord {
  if (volumeId) {
    const snapshot = generation.snapshots.find((s) => s.volumeId === volumeId);
    if (!snapshot) {
      const held = generation.snapshots.map((s) => s.volumeId).join(', ');
      refuse(runbook, [
        {
          field: 'volumeId',
          message: `generation ${generation.id} holds no snapshot of ${volumeId}, only of ${held}`,
        },
      ]);
    }
    return snapshot as SnapshotRecord;
  }
  const [only, ...more] = generation.snapshots;
  if (!only || more.length > 0) {
    const volumes = generation.snapshots.map((s) => s.volumeId).join(', ');
    refuse(runbook, [
      {
        field: 'volumeId',
        message: `generation ${generation.id} holds ${generation.snapshots.length} volumes (${volumes}); say which with {volumeId}`,
      },
    ]);
  }
  return only as SnapshotRecord;
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
 * The source volume's tags travel to what a runbook creates, with where it came from. Like everything snapkeeper
 * creates it carries `snapkeeper:managed=true` (SPEC §3), which is also what IAM requires of CreateVolume; it
 * has no catalog record, so retention can never touch it.
 */
export function carriedTags(source: Source): Tags {
  return {
    ...source.snapshot.volumeTags,
    [TAG.managed]: 'true',
    [TAG.restoredFrom]: source.generation.id,
    [TAG.sourceVolume]: source.snapshot.volumeId,
  };
}
