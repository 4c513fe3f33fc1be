import { type Config, type KeepRule, scheduleOf } from '#core/config/config.ts';
import type { CopySlots } from '#core/copies/ports.ts';
import { copyRulesOf } from '#core/copies/queue.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { type CopyRecord, type Generation, isFinalCopy, usableCopyIn } from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import {
  type InterlockMemo,
  newestWhere,
  type Ownership,
  orphanHold,
  type PruneDeps,
  type PruneReport,
} from './prune.ts';
import { placeInLineage } from './retention.ts';

/**
 * The life of DR copies after they are made: each copy Region keeps its own generations under the copy rule's
 * keep (SPEC §4 `copies[].keep`), and pruning there goes behind the same interlocks as in the primary Region.
 */

/** A copy's place in its Region's lineage, as retention placed it. */
export interface CopyExpiry {
  generationId: string;
  region: string;
  expiresAt: string;
}

/**
 * The lineage as seen from one copy Region: the generations that have a copy there, each standing for its copy
 * (its state, expiry and deletion), so the pure `placeInLineage` places copies exactly as it places generations.
 */
export function copyLineage(lineage: readonly Generation[], region: string): Generation[] {
  return lineage.flatMap((g) => {
    const copy = g.copies.find((c) => c.region === region);
    if (!copy) return [];
    const state = copy.state === 'completed' ? 'completed' : copy.state === 'failed' ? 'failed' : 'pending';
    return [{ ...g, state, expiresAt: copy.expiresAt, deletedAt: copy.deletedAt }];
  });
}

/**
 * Places the final copies of these generations (one lineage) in their Regions under the copy rule's keep, and
 * sets the expiries of older copies their arrival pushes out. Like the primary, only unset expiries are written.
 */
export async function applyCopyRetention(
  finished: readonly Generation[],
  lineage: readonly Generation[],
  deps: { config: Config; catalog: Catalog; clock: Clock },
): Promise<CopyExpiry[]> {
  const [first] = finished as [Generation];
  const placed: CopyExpiry[] = [];
  const now = deps.clock.now().toISOString();
  for (const rule of copyRulesOf(deps.config, first)) {
    const placing = finished.filter((g) =>
      g.copies.some(
        (c) => c.region === rule.region && isFinalCopy(c) && !c.retentionAppliedAt && !c.deletedAt,
      ),
    );
    if (placing.length === 0) continue;
    const expiries = placeInLineage(copyLineage(lineage, rule.region), rule.keep as KeepRule);
    const ids = new Set(placing.map((g) => g.id));
    for (const member of lineage) {
      const copy = member.copies.find((c) => c.region === rule.region);
      const expiresAt = expiries.get(member.id);
      if (!copy || ids.has(member.id) || !expiresAt || copy.expiresAt || copy.deletedAt) continue;
      await deps.catalog.updateCopy(member.id, rule.region, (current) =>
        current && !current.expiresAt && !current.deletedAt ? { ...current, expiresAt } : undefined,
      );
      placed.push({ generationId: member.id, region: rule.region, expiresAt });
    }
    for (const generation of placing) {
      const expiresAt = expiries.get(generation.id);
      await deps.catalog.updateCopy(generation.id, rule.region, (current) =>
        current && !current.retentionAppliedAt
          ? { ...current, expiresAt: current.expiresAt ?? expiresAt, retentionAppliedAt: now }
          : undefined,
      );
      if (expiresAt) placed.push({ generationId: generation.id, region: rule.region, expiresAt });
    }
  }
  // A copy whose rule left the config gets no expiry and is kept: nothing is deleted by guesswork. It is still
  // marked placed, so it leaves the open-work index.
  for (const generation of finished) {
    for (const copy of generation.copies) {
      if (!isFinalCopy(copy) || copy.retentionAppliedAt || copy.deletedAt) continue;
      if (copyRulesOf(deps.config, generation).some((r) => r.region === copy.region)) continue;
      await deps.catalog.updateCopy(generation.id, copy.region, (current) =>
        current && !current.retentionAppliedAt ? { ...current, retentionAppliedAt: now } : undefined,
      );
    }
  }
  return placed;
}

/** Copies of a generation that are due for pruning now, or whose prune began and must be finished. */
export function dueCopies(generation: Generation, now: string): CopyRecord[] {
  return generation.copies.filter(
    (c) =>
      !c.deletedAt && (c.pruneStartedAt !== undefined || (c.expiresAt !== undefined && c.expiresAt <= now)),
  );
}

/**
 * Prunes one due copy in its Region, behind the interlocks: its rule must still be in the config, its copies
 * final, the newest completed copy of a live target is kept (the orphan rule otherwise), and EC2 must show
 * every snapshot and AMI as this generation's. Crash-safe like the primary: `pruneStartedAt` first, `deletedAt` last.
 */
export async function pruneCopy(
  generation: Generation,
  copy: CopyRecord,
  now: string,
  deps: PruneDeps,
  report: PruneReport,
  memo: InterlockMemo,
  ownership: Map<string, Ownership>,
): Promise<void> {
  const region = copy.region;
  const hold = copy.pruneStartedAt ? undefined : await copyInterlock(generation, copy, now, deps, memo);
  const holdIt = async (reason: string) => {
    report.held.push({ generationId: generation.id, region, reason });
    if (copy.heldBecause !== reason) {
      await deps.catalog.updateCopy(generation.id, region, (current) =>
        current && !current.deletedAt ? { ...current, heldBecause: reason } : undefined,
      );
    }
  };
  if (hold) return holdIt(hold);
  if (!copy.pruneStartedAt) {
    await deps.catalog.updateCopy(generation.id, region, (current) =>
      current && !current.deletedAt
        ? { ...current, pruneStartedAt: current.pruneStartedAt ?? now }
        : undefined,
    );
  }
  // Looked up for the whole pass (`prune`); a snapshot that no longer exists is absent.
  const owners = new Map(
    copy.snapshotIds.flatMap((id) => {
      const owner = ownership.get(id);
      return owner ? [[id, owner] as const] : [];
    }),
  );
  const images = new Map<string, Ownership | undefined>();
  for (const image of copy.images) {
    if (image.imageId) images.set(image.imageId, await deps.pruner.imageOwnership(region, image.imageId));
  }
  const foreign = [...owners, ...images].find(
    ([, owner]) => owner && (!owner.managed || owner.generationId !== generation.id),
  );
  if (foreign) {
    return holdIt(
      `${foreign[0]} in ${region} is not tagged as belonging to ${generation.id}; refusing to delete anything of this copy`,
    );
  }

  const notes = [...(copy.notes ?? [])];
  const gone = (what: string) => {
    const note = copy.pruneStartedAt
      ? `${what} in ${region} was already gone when the interrupted prune resumed`
      : `${what} in ${region} was already gone (deleted outside snapkeeper)`;
    notes.push(note);
    report.notes.push({ generationId: generation.id, note });
  };
  // AMI first: EC2 will not delete a snapshot an AMI still uses.
  for (const [imageId, owner] of images) {
    if (!owner || (await deps.pruner.deregisterImage(region, imageId)) === 'gone') gone(`AMI ${imageId}`);
  }
  for (const snapshotId of copy.snapshotIds) {
    if (!owners.has(snapshotId) || (await deps.pruner.deleteSnapshot(region, snapshotId)) === 'gone') {
      gone(`snapshot ${snapshotId}`);
    }
  }
  await deps.catalog.updateCopy(generation.id, region, (current) =>
    current && !current.deletedAt
      ? { ...current, deletedAt: now, heldBecause: undefined, notes: notes.length ? notes : undefined }
      : undefined,
  );
  deps.log.info('copy pruned', { generationId: generation.id, region, snapshots: copy.snapshotIds.length });
  const amiIds = [...images.keys()];
  report.pruned.push({
    generationId: generation.id,
    region,
    snapshotIds: copy.snapshotIds,
    ...(amiIds.length ? { amiIds } : {}),
  });
}

/** The first interlock that holds a due copy back, in words; undefined when it may go. */
export async function copyInterlock(
  generation: Generation,
  copy: CopyRecord,
  now: string,
  deps: PruneDeps,
  memo: InterlockMemo,
): Promise<string | undefined> {
  if (!isFinalCopy(copy)) return `its copy to ${copy.region} is still in progress`;
  const { policy } = scheduleOf(deps.config, generation);
  if (!policy || !copyRulesOf(deps.config, generation).some((r) => r.region === copy.region)) {
    return `the copy rule of ${generation.policy}/${generation.schedule} for ${copy.region} is no longer in the config; restore it there, or keep the copy`;
  }
  if (copy.state !== 'completed') return undefined;
  const key = `${generation.target.id}\n${copy.region}`;
  if (!memo.newest.has(key))
    memo.newest.set(key, newestCopied(generation.target.id, copy.region, deps.catalog));
  const newest = await memo.newest.get(key);
  if (newest && newest.id !== generation.id) return undefined;
  return orphanHold(generation, now, policy, deps, `copy in ${copy.region}`);
}

/** A target's newest generation with a completed, undeleted copy in `region`. */
function newestCopied(targetId: string, region: string, catalog: Catalog): Promise<Generation | undefined> {
  return newestWhere(targetId, catalog, (g) => usableCopyIn(g, region) !== undefined);
}

/**
 * Frees slots nobody will free: a worker took the slot and died, and the copy it was for is final, gone, or
 * was never started. A slot whose copy is in flight stays: its worker frees it when the copy completes.
 */
export async function sweepSlots(
  deps: { config: Config; catalog: Catalog; slots: CopySlots; clock: Clock; log: Log },
  staleAfterMs: number,
): Promise<{ region: string; key: string }[]> {
  const regions = [...new Set(deps.config.policies.flatMap((p) => p.copies.map((c) => c.region)))];
  const now = deps.clock.now().getTime();
  const freed: { region: string; key: string }[] = [];
  for (const region of regions) {
    try {
      const stale = [...(await deps.slots.held(region))].filter(
        ([, slot]) => now - Date.parse(slot.acquiredAt) >= staleAfterMs,
      );
      const release: string[] = [];
      for (const [key] of stale) {
        // `<generation>#<source>`; an AMI copy's extra slots are `<generation>#<ami>/<n>`.
        const [generationId, slotSource] = key.split('#') as [string, string];
        const sourceId = slotSource.split('/')[0] as string;
        const copy = (await deps.catalog.get(generationId))?.copies.find((c) => c.region === region);
        const inFlight =
          copy?.snapshots.some((s) => s.sourceSnapshotId === sourceId && s.state === 'pending') ||
          copy?.images.some((i) => i.sourceImageId === sourceId && i.state === 'pending');
        if (!inFlight) release.push(key);
      }
      if (release.length > 0) {
        await deps.slots.release(region, release);
        deps.log.warn('copy slots freed', { region, keys: release });
        freed.push(...release.map((key) => ({ region, key })));
      }
    } catch (error) {
      deps.log.error('copy slots not swept', { region, error });
    }
  }
  return freed;
}
