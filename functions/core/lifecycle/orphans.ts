import {
  type AdoptionDeps,
  adoptedTake,
  plannedFor,
  scopeOf,
  screenSnapshots,
  snapshotMarkedAs,
} from '#core/backup/adoption.ts';
import { weakest } from '#core/backup/freeze-report.ts';
import type { FoundSnapshot, Inventory } from '#core/backup/ports.ts';
import { fromTake } from '#core/backup/take-record.ts';
import type { Config } from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { describeError, SnapshotInUseError } from '#core/model/errors.ts';
import { type Generation, stateFromSnapshots } from '#core/model/generation.ts';
import type { Pruner } from './ports.ts';

/**
 * The orphan sweep: snapshots that carry a generation's tags but are missing from its record. A create whose
 * answer was lost, and found by no look-up, makes a second snapshot; a run that died between a create and its
 * record leaves one behind. Each is recorded, deleted or held, never left unaccounted for:
 *
 * - without a valid `snapkeeper:mark` it is not snapkeeper's (anyone allowed to tag can write the generation's
 *   tags): held, never deleted nor adopted;
 * - marked, but failing the adoption checks (not a volume of the target, started outside the claim's window,
 *   another account): held too, since a mark names the generation and the volume, not the snapshot, so a copied
 *   mark tag is only believed on a snapshot that could be the claim's own work;
 * - marked and the claim's work, of a volume the generation already records: snapkeeper's own extra copy, deleted
 *   once the recorded one has completed (until then it may be the only good one);
 * - marked and the claim's work, of a volume the generation lacks, while the generation is pending: recorded.
 *
 * Bounded: one look-up by generation tag (at most 200 ids a filter, paginated) for the generations this pass has
 * open, never a scan of the account.
 */

export interface OrphanDeps extends AdoptionDeps {
  config: Config;
  catalog: Catalog;
  inventory: Inventory;
  pruner: Pruner;
}

/** One orphan and what the sweep did with it, with why. */
export interface OrphanEntry {
  generationId: string;
  snapshotId: string;
  /** EC2's `VolumeId` of the snapshot (never a tag). */
  volumeId: string;
  reason: string;
}

export interface OrphanReport {
  recorded: OrphanEntry[];
  deleted: OrphanEntry[];
  held: OrphanEntry[];
}

export function anOrphanReport(): OrphanReport {
  return { recorded: [], deleted: [], held: [] };
}

/** The reason every unmarked orphan is held under: it is not snapkeeper's. */
export const UNMARKED = "unmarked: not snapkeeper's";

/**
 * Sweeps the orphans of these generations (those with a recorded snapshot: a claim with none is the run's or
 * adoption's), resolving with the generations as they are after it: one that recorded an orphan is rewritten.
 */
export async function sweepOrphans(
  generations: readonly Generation[],
  deps: OrphanDeps,
  report: OrphanReport,
): Promise<Generation[]> {
  const swept = generations.filter((g) => g.snapshots.length > 0 && !g.deletedAt);
  if (swept.length === 0) return [...generations];
  let found: FoundSnapshot[];
  try {
    found = await deps.snapshots.snapshotsOfGenerations(swept.map((g) => g.id));
  } catch (error) {
    // Not fatal: the generations stay open while pending, and a sweep is tried again at the next pass.
    deps.log.error('orphans not looked up', { error });
    return [...generations];
  }
  const result: Generation[] = [];
  for (const generation of generations) {
    const recorded = new Set(generation.snapshots.map((s) => s.snapshotId));
    const orphans = swept.includes(generation)
      ? found.filter((s) => s.generationId === generation.id && !recorded.has(s.snapshotId))
      : [];
    if (orphans.length === 0) {
      result.push(generation);
      continue;
    }
    try {
      result.push(await sweepGeneration(generation, orphans, deps, report));
    } catch (error) {
      deps.log.error('orphans not swept', { generationId: generation.id, error });
      result.push(generation);
    }
  }
  return result;
}

async function sweepGeneration(
  generation: Generation,
  orphans: readonly FoundSnapshot[],
  deps: OrphanDeps,
  report: OrphanReport,
): Promise<Generation> {
  const planned = await plannedFor(generation, deps.inventory);
  const scope = await scopeOf(generation, planned, deps);
  const rejected = new Map(screenSnapshots(orphans, scope).rejected.map((r) => [r.resourceId, r.reason]));
  const adopt: FoundSnapshot[] = [];
  const hold = (entry: OrphanEntry) => {
    report.held.push(entry);
    deps.log.warn('orphan snapshot held', { ...entry });
  };
  for (const orphan of orphans) {
    const { snapshotId, volumeId } = orphan;
    const entry = { generationId: generation.id, snapshotId, volumeId };
    const kind = snapshotMarkedAs(orphan, scope);
    if (!kind) {
      hold({
        ...entry,
        reason: `${UNMARKED}: ${snapshotId} carries this generation's tags but no valid snapkeeper:mark tag (tags can be forged); never deleted nor recorded: delete it by hand if it is yours`,
      });
      continue;
    }
    const problem = rejected.get(snapshotId);
    if (problem) {
      hold({ ...entry, reason: `marked, but not this claim's work: it is ${problem}; kept, never deleted` });
      continue;
    }
    if (kind === 'image') {
      hold({
        ...entry,
        reason: `it is marked as a snapshot of an AMI of this generation that the generation does not record; kept`,
      });
      continue;
    }
    const twin = generation.snapshots.find((s) => s.volumeId === volumeId && !s.amiId);
    if (!twin) {
      if (generation.state === 'pending') adopt.push(orphan);
      else
        hold({
          ...entry,
          reason: `a snapshot of ${volumeId} the ${generation.state} generation does not record; its outcome is final and is not changed: keep it or delete it by hand`,
        });
      continue;
    }
    if (twin.state !== 'completed') {
      hold({
        ...entry,
        reason: `a second snapshot of ${volumeId}; kept while the recorded one (${twin.snapshotId}) is ${twin.state === 'error' ? 'in error' : 'still pending'}`,
      });
      continue;
    }
    const reason = `a second snapshot of ${volumeId} made by this generation's create (a lost answer); the generation records ${twin.snapshotId}`;
    try {
      await deps.pruner.deleteSnapshot(deps.config.region, snapshotId);
    } catch (error) {
      const why =
        error instanceof SnapshotInUseError
          ? `it is in use by AMI ${error.imageIds.join(', ')}`
          : describeError(error);
      hold({ ...entry, reason: `${reason}; not deleted: ${why}` });
      continue;
    }
    report.deleted.push({ ...entry, reason });
    deps.log.info('orphan snapshot deleted', { ...entry });
  }
  if (adopt.length === 0) return generation;
  return recordAdopted(generation, adopt, planned, deps, report);
}

/** Records orphans of volumes the pending generation lacks, beside what it holds; no freeze is known to cover them. */
async function recordAdopted(
  generation: Generation,
  adopt: readonly FoundSnapshot[],
  planned: Awaited<ReturnType<typeof plannedFor>>,
  deps: OrphanDeps,
  report: OrphanReport,
): Promise<Generation> {
  const adopted = fromTake(
    generation,
    adoptedTake(planned, adopt, [], generation.claimedAt),
    deps.config.region,
  );
  const snapshots = [...generation.snapshots, ...adopted.snapshots];
  const reason =
    "it carries this generation's tags and mark and is of a volume of its target, taken in its claim's window, and the generation did not record it (a create whose answer was lost, or a run that stopped before recording)";
  const next: Generation = {
    ...generation,
    snapshots,
    state: stateFromSnapshots(snapshots),
    consistency: weakest(snapshots.map((s) => s.consistency)),
    notes: [
      ...(generation.notes ?? []),
      ...adopted.snapshots.map(
        (s) =>
          `recorded by reconcile: ${s.snapshotId} of ${s.volumeId}, ${reason}; no freeze is known to have covered it`,
      ),
    ],
  };
  await deps.catalog.recordOutcome(next);
  for (const s of adopted.snapshots) {
    const entry = { generationId: generation.id, snapshotId: s.snapshotId, volumeId: s.volumeId, reason };
    report.recorded.push(entry);
    deps.log.info('orphan snapshot recorded', { generationId: generation.id, snapshotId: s.snapshotId });
  }
  return next;
}
