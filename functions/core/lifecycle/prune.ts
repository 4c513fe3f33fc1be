import { type Config, copiesForSchedule, type Policy, scheduleOf } from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { describeError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { DAY_MS } from '#core/model/time.ts';
import { dueCopies, pruneCopy } from './copy-lifecycle.ts';

/** What EC2 says a resource is, by its tags, right now. */
export interface Ownership {
  managed: boolean;
  generationId?: string;
}

/** EC2 as pruning needs it. Every delete is idempotent: a resource already gone is reported, not an error. */
export interface Pruner {
  /** Ownership tags of these snapshots; a snapshot that no longer exists is absent. */
  snapshotOwnership(region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>>;
  /** Ownership tags of an AMI; undefined when it no longer exists. */
  imageOwnership(region: string, imageId: string): Promise<Ownership | undefined>;
  deleteSnapshot(region: string, snapshotId: string): Promise<'deleted' | 'gone'>;
  deregisterImage(region: string, imageId: string): Promise<'deregistered' | 'gone'>;
  /** Which of these instances and volumes still exist (terminated instances do not). */
  existingTargets(targetIds: readonly string[]): Promise<Set<string>>;
}

export interface PruneDeps {
  config: Config;
  catalog: Catalog;
  pruner: Pruner;
  clock: Clock;
  log: Log;
}

/** What a pass did. Entries with a `region` are about that DR copy of the generation, not its primary snapshots. */
export interface PruneReport {
  pruned: { generationId: string; region?: string; snapshotIds: string[]; amiIds?: string[] }[];
  held: { generationId: string; region?: string; reason: string }[];
  notes: { generationId: string; note: string }[];
}

/** Generations at most pruned in one pass, so a pass fits comfortably in one Lambda invocation. */
const PASS_LIMIT = 200;

/**
 * Deletes what retention says has expired, unless an interlock (SPEC §5.4) holds it. Crash-safe: a generation
 * is marked `pruneStartedAt` before anything is deleted, deletes are idempotent, and `deletedAt` is written
 * last, so a prune interrupted at any point is finished by the next pass without leaking or double-deleting.
 */
export async function prune(deps: PruneDeps, resumable: readonly Generation[] = []): Promise<PruneReport> {
  const now = deps.clock.now().toISOString();
  const report: PruneReport = { pruned: [], held: [], notes: [] };
  const due = await deps.catalog.expiring(now, PASS_LIMIT);
  const candidates = [...resumable, ...due.filter((g) => !resumable.some((r) => r.id === g.id))];
  // Looked up once per pass rather than once per generation: the newest generation of each target, and the
  // ownership tags of every candidate snapshot (checked again by EC2 itself: IAM allows only managed ones).
  const memo: InterlockMemo = { newest: new Map() };
  const owners = await ownershipOf(candidates, now, deps);
  for (const generation of candidates) {
    try {
      if (primaryDue(generation, now)) await prunePrimary(generation, now, deps, report, owners, memo);
      // Each DR copy has its own expiry and goes on its own, in its Region.
      for (const copy of dueCopies(generation, now))
        await pruneCopy(generation, copy, now, deps, report, memo, owners);
    } catch (error) {
      // One generation's trouble never stops the others; it stays due (or resumable) for the next pass.
      deps.log.error('prune failed', { generationId: generation.id, error });
      report.held.push({ generationId: generation.id, reason: `prune failed: ${describeError(error)}` });
    }
  }
  return report;
}

/** Whether the primary snapshots are due: expired, or a prune of them began. */
function primaryDue(generation: Generation, now: string): boolean {
  if (generation.deletedAt) return false;
  return (
    generation.pruneStartedAt !== undefined ||
    (generation.expiresAt !== undefined && generation.expiresAt <= now)
  );
}

async function prunePrimary(
  generation: Generation,
  now: string,
  deps: PruneDeps,
  report: PruneReport,
  owners: Map<string, Ownership>,
  memo: InterlockMemo,
) {
  const hold = generation.pruneStartedAt ? undefined : await interlock(generation, now, deps, memo);
  if (!hold) return deleteGeneration(generation, now, deps, report, owners);
  report.held.push({ generationId: generation.id, reason: hold });
  if (generation.heldBecause !== hold)
    await deps.catalog.update({ ...generation, heldBecause: hold }, ['heldBecause']);
}

/** What one pass remembers between generations, so a target's newest generation (primary, or copied to a
 * Region) is read once. */
export interface InterlockMemo {
  newest: Map<string, Promise<Generation | undefined>>;
}

/** Ownership of every snapshot due in this pass (primaries and DR copies), by Region, in as few calls as the
 * pruner allows. */
async function ownershipOf(
  generations: readonly Generation[],
  now: string,
  deps: PruneDeps,
): Promise<Map<string, Ownership>> {
  const byRegion = new Map<string, string[]>();
  const add = (region: string, ids: readonly string[]) =>
    byRegion.set(region, [...(byRegion.get(region) ?? []), ...ids]);
  for (const g of generations) {
    if (primaryDue(g, now)) for (const s of g.snapshots) add(s.region, [s.snapshotId]);
    for (const copy of dueCopies(g, now)) add(copy.region, copy.snapshotIds);
  }
  const owners = new Map<string, Ownership>();
  for (const [region, ids] of byRegion) {
    for (const [id, owner] of await deps.pruner.snapshotOwnership(region, ids)) owners.set(id, owner);
  }
  return owners;
}

/** The first interlock that holds a generation back, in words; undefined when it may go. */
export async function interlock(
  generation: Generation,
  now: string,
  deps: PruneDeps,
  memo: InterlockMemo = { newest: new Map() },
): Promise<string | undefined> {
  if (generation.state === 'pending') return 'its outcome is not final yet';
  const { policy, schedule } = scheduleOf(deps.config, generation);
  if (!policy || !schedule) {
    return `its policy or schedule (${generation.policy}/${generation.schedule}) is no longer in the config; restore it there, or keep the generation`;
  }
  if (generation.state === 'completed') {
    for (const copy of copiesForSchedule(policy, schedule)) {
      const record = generation.copies.find((c) => c.region === copy.region);
      if (record?.state === 'failed') {
        return `its copy to ${copy.region} failed (${record.failure ?? 'no reason recorded'}); the source is kept until a copy completes there`;
      }
      if (record?.state !== 'completed') return `its copy to ${copy.region} has not completed`;
    }
  }
  return newestOfTarget(generation, now, policy, deps, memo);
}

/** The newest completed generation of a target is kept, unless the target is gone and the orphan rule allows. */
async function newestOfTarget(
  generation: Generation,
  now: string,
  policy: Policy,
  deps: PruneDeps,
  memo: InterlockMemo,
): Promise<string | undefined> {
  if (generation.state !== 'completed') return undefined;
  const target = generation.target.id;
  if (!memo.newest.has(target)) memo.newest.set(target, newestCompleted(target, deps.catalog));
  const newest = await memo.newest.get(target);
  if (newest && newest.id !== generation.id) return undefined;
  return orphanHold(generation, now, policy, deps);
}

/**
 * The newest completed generation of a target (or its newest completed copy in a Region: `what` is
 * `copy in <region>`) is kept while the target exists; once it is gone, the orphan rule decides.
 */
export async function orphanHold(
  generation: Generation,
  now: string,
  policy: Policy,
  deps: PruneDeps,
  what = 'generation',
): Promise<string | undefined> {
  const ids = generation.target.members ?? [generation.target.id];
  if ((await deps.pruner.existingTargets(ids)).size > 0) {
    return `it is the newest completed ${what} of ${generation.target.id}`;
  }
  const days = policy.orphans.keepNewestDays;
  if (days === undefined) {
    return `${generation.target.id} no longer exists and this is its newest ${what}; the orphan rule keeps it (set orphans.keepNewestDays to let it go)`;
  }
  const taken = Date.parse(generation.takenAt ?? generation.scheduledAt);
  if (Date.parse(now) - taken < days * DAY_MS) {
    return `${generation.target.id} no longer exists; the orphan rule keeps its newest ${what} for ${days} days`;
  }
  return undefined;
}

/** A target's newest completed generation that is not deleted. */
function newestCompleted(targetId: string, catalog: Catalog): Promise<Generation | undefined> {
  return newestWhere(targetId, catalog, (g) => g.state === 'completed' && !g.deletedAt);
}

/** A target's newest generation that passes `test`, reading a small page first and growing it. */
export async function newestWhere(
  targetId: string,
  catalog: Catalog,
  test: (generation: Generation) => boolean,
): Promise<Generation | undefined> {
  for (let limit = 4; ; limit *= 4) {
    const page = await catalog.byTarget(targetId, { limit });
    const found = page.find(test);
    if (found || page.length < limit) return found;
  }
}

async function deleteGeneration(
  generation: Generation,
  now: string,
  deps: PruneDeps,
  report: PruneReport,
  ownership: Map<string, Ownership>,
) {
  const started = generation.pruneStartedAt ? generation : { ...generation, pruneStartedAt: now };
  if (!generation.pruneStartedAt) await deps.catalog.update(started, ['pruneStartedAt']);
  const region = generation.snapshots[0]?.region ?? deps.config.region;

  // Only what the catalog records, and only while EC2 still shows it as this generation's (SPEC §3).
  const owners = new Map(
    generation.snapshots.flatMap((s) => {
      const owner = ownership.get(s.snapshotId);
      return owner ? [[s.snapshotId, owner] as const] : [];
    }),
  );
  // Every AMI the generation made: its own, and those its snapshots back (a group has one per member).
  const amiIds = [
    ...new Set(
      [generation.amiId, ...generation.snapshots.map((x) => x.amiId)].filter((id) => id !== undefined),
    ),
  ];
  const images = new Map<string, Ownership | undefined>();
  for (const amiId of amiIds) images.set(amiId, await deps.pruner.imageOwnership(region, amiId));
  const refusal = refuse(generation, owners, images);
  if (refusal) {
    report.held.push({ generationId: generation.id, reason: refusal });
    await deps.catalog.update({ ...started, heldBecause: refusal }, ['heldBecause']);
    return;
  }

  const notes = [...(generation.notes ?? [])];
  const note = (text: string) => {
    notes.push(text);
    report.notes.push({ generationId: generation.id, note: text });
    deps.log.warn('prune note', { generationId: generation.id, note: text });
  };
  // An AMI and its snapshots go together, AMI first: EC2 will not delete a snapshot an AMI still uses.
  // On a resumed prune a missing resource may be one the interrupted pass deleted, so no one is blamed then.
  const gone = (what: string) =>
    generation.pruneStartedAt
      ? `${what} was already gone when the interrupted prune resumed`
      : `${what} was already gone (deleted outside snapkeeper)`;
  for (const [amiId, image] of images) {
    if (!image || (await deps.pruner.deregisterImage(region, amiId)) === 'gone') note(gone(`AMI ${amiId}`));
  }
  for (const { snapshotId } of generation.snapshots) {
    if (!owners.has(snapshotId) || (await deps.pruner.deleteSnapshot(region, snapshotId)) === 'gone') {
      note(gone(`snapshot ${snapshotId}`));
    }
  }

  // Written last: until it is, the generation stays open and the next pass finishes what this one began.
  const deleted: Generation = {
    ...started,
    deletedAt: now,
    heldBecause: undefined,
    notes: notes.length ? notes : undefined,
  };
  await deps.catalog.update(deleted, ['deletedAt', 'heldBecause', 'notes']);
  deps.log.info('generation pruned', {
    generationId: generation.id,
    snapshots: generation.snapshots.length,
    amiIds,
  });
  report.pruned.push({
    generationId: generation.id,
    snapshotIds: generation.snapshots.map((s) => s.snapshotId),
    ...(amiIds.length ? { amiIds } : {}),
  });
}

/** Why EC2's view of a generation's resources forbids deleting any of them; undefined when they are ours. */
function refuse(
  generation: Generation,
  owners: Map<string, Ownership>,
  images: Map<string, Ownership | undefined>,
): string | undefined {
  for (const [snapshotId, owner] of owners) {
    if (!owner.managed || owner.generationId !== generation.id) {
      return `snapshot ${snapshotId} is not tagged as belonging to ${generation.id}; refusing to delete anything of it`;
    }
  }
  // A snapshot backing an AMI goes only with that AMI: so every AMI must be this generation's to deregister.
  for (const [amiId, image] of images) {
    if (image && (!image.managed || image.generationId !== generation.id)) {
      return `AMI ${amiId} is not tagged as belonging to ${generation.id}; refusing to delete it or the snapshots behind it`;
    }
  }
  return undefined;
}
