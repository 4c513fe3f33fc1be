import type { Config, KeepRule } from '#core/config/config.ts';
import { copyRulesOf } from '#core/copies/queue.ts';
import type { Catalog } from '#core/model/catalog.ts';
import type { Generation } from '#core/model/generation.ts';
import { daysAfter } from '#core/model/time.ts';
import { aheadReason, keepOf } from './interlocks.ts';
import { copyOf, isAhead, primaryOf, type Replica, regionOf, timeOf, writeReplica } from './replica.ts';

/** When a replica's time in a lineage ends: undefined while a keep rule still keeps it open-endedly. */
export type Expiry = string | undefined;

/**
 * Places the replicas of one lineage (one target, policy and schedule, seen from one Region) under a keep rule
 * (SPEC §4 `keep`): a replica is kept while any rule that applies to it keeps it. Replicas are ordered by their
 * time (`timeOf`), newest first, whatever order they come in.
 *
 * - `count: n` keeps a replica while fewer than n completed ones are newer than it. Its end is the time of the
 *   n-th newer completed one, which depends only on the lineage, so a replay on a simulated clock computes the
 *   same expiry as the original run.
 * - `days: d` keeps a replica until d days after its time.
 *
 * Pending replicas are not placed (their outcome is not known yet), nor are those whose time lies after `now`:
 * neither counts as newer, so a record dated a year ahead never pushes real backups out. Failed ones are placed
 * like completed ones but never count as newer completed ones: a failure does not push a good backup out.
 * This function only computes expiries; what may really be deleted is decided by the interlocks.
 */
export function placeInLineage(
  lineage: readonly Replica[],
  keep: KeepRule,
  now: string,
): Map<string, Expiry> {
  const expiries = new Map<string, Expiry>();
  // Times of the completed replicas newer than the one being placed, newest first: the last `count` of them are
  // its nearest newer neighbours, and the newest of those is the one whose arrival pushed it out.
  const newerCompleted: string[] = [];
  const ordered = [...lineage].sort((a, b) => timeOf(b).localeCompare(timeOf(a)));
  for (const replica of ordered) {
    if (replica.state === 'pending' || isAhead(replica, now)) continue;
    expiries.set(replica.generation.id, expiryOf(replica, keep, newerCompleted));
    if (replica.state === 'completed') newerCompleted.push(timeOf(replica));
  }
  return expiries;
}

function expiryOf(replica: Replica, keep: KeepRule, newerCompleted: readonly string[]): Expiry {
  const ends: string[] = [];
  if (keep.count !== undefined) {
    if (newerCompleted.length < keep.count) return undefined; // the count rule still keeps it, no end in sight
    ends.push(newerCompleted[newerCompleted.length - keep.count] as string);
  }
  if (keep.days !== undefined) ends.push(daysAfter(timeOf(replica), keep.days));
  return ends.sort().at(-1);
}

/** A copy's place in its Region's lineage, as retention placed it. */
export interface CopyExpiry {
  generationId: string;
  region: string;
  expiresAt: string;
}

/** What placing one lineage did: the expiries it set, and the replicas it held back because their time is ahead. */
export interface Placement {
  expiries: { generationId: string; region?: string; expiresAt: string }[];
  held: { generationId: string; region?: string; reason: string }[];
}

/** Whether retention still has to place this replica: its outcome is final, and it was neither placed nor deleted. */
export function unplaced(replica: Replica): boolean {
  return replica.state !== 'pending' && !replica.retentionAppliedAt && !replica.deletedAt;
}

/**
 * Places finished generations of one lineage: their primaries under the schedule's keep, and their final copies
 * in each Region under the copy rule's keep. Each sets its own expiry and those of the older replicas its arrival
 * pushes out of a count rule. Only unset expiries are written, so a pass never extends nor shortens what an
 * earlier one decided; a replica whose rule left the config gets no expiry at all (nothing is deleted by
 * guesswork) but is still marked placed, so it leaves the open-work index.
 */
export async function applyRetention(
  finished: readonly Generation[],
  deps: { config: Config; catalog: Catalog },
  now: string,
): Promise<Placement> {
  const [first] = finished as [Generation];
  const home = deps.config.region;
  const rules = copyRulesOf(deps.config, first);
  const counts = [
    keepOf(primaryOf(first, home), deps.config)?.count ?? 0,
    ...rules.map((r) => r.keep.count ?? 0),
  ];
  const lineage = await lineageFor(finished, Math.max(...counts), deps.catalog);
  const placement: Placement = { expiries: [], held: [] };
  // The primary first: its writes build on the records as read, while a copy's write reads its record anew.
  const views: ((g: Generation) => Replica | undefined)[] = [(g) => primaryOf(g, home)];
  const regions = new Set([
    ...rules.map((r) => r.region),
    ...finished.flatMap((g) => g.copies.map((c) => c.region)),
  ]);
  for (const region of regions) {
    views.push((g) => {
      const copy = g.copies.find((c) => c.region === region);
      return copy && copyOf(g, copy);
    });
  }
  for (const view of views) {
    const placing = finished.map(view).filter((r): r is Replica => r !== undefined && unplaced(r));
    if (placing.length === 0) continue;
    const replicas = lineage.map(view).filter((r): r is Replica => r !== undefined);
    await place(placing, replicas, keepOf(placing[0] as Replica, deps.config), now, deps.catalog, placement);
  }
  return placement;
}

async function place(
  placing: readonly Replica[],
  lineage: readonly Replica[],
  keep: KeepRule | undefined,
  now: string,
  catalog: Catalog,
  placement: Placement,
) {
  const expiries = keep ? placeInLineage(lineage, keep, now) : new Map<string, Expiry>();
  const ids = new Set(placing.map((r) => r.generation.id));
  for (const member of lineage) {
    const expiresAt = expiries.get(member.generation.id);
    if (!expiresAt || ids.has(member.generation.id) || member.expiresAt || member.deletedAt) continue;
    await writeReplica(catalog, member, { expiresAt });
    placement.expiries.push({ generationId: member.generation.id, ...regionOf(member), expiresAt });
  }
  for (const replica of placing) {
    if (isAhead(replica, now)) {
      // Left unplaced, so it stays in the open-work index and is placed once its time has come.
      const reason = aheadReason(replica);
      await writeReplica(catalog, replica, { heldBecause: reason });
      placement.held.push({ generationId: replica.generation.id, ...regionOf(replica), reason });
      continue;
    }
    const expiresAt = replica.expiresAt ?? expiries.get(replica.generation.id);
    // A hold set before it was placed is cleared: the prune later in the pass sets whatever hold applies now.
    await writeReplica(catalog, replica, { expiresAt, retentionAppliedAt: now, heldBecause: undefined });
    if (expiresAt && !replica.expiresAt) {
      placement.expiries.push({ generationId: replica.generation.id, ...regionOf(replica), expiresAt });
    }
  }
}

/**
 * The newest part of a lineage that a count rule can see from these generations: down to the oldest of them
 * and past `count` more completed ones, read a page at a time so failures in between cannot hide the end.
 */
async function lineageFor(
  finished: readonly Generation[],
  count: number,
  catalog: Catalog,
): Promise<Generation[]> {
  const [first] = finished as [Generation];
  const oldest = finished.map((g) => g.scheduledAt).sort()[0] as string;
  for (let limit = count + finished.length + 4; ; limit *= 2) {
    const lineage = await catalog.lineage(first.target.id, first.policy, first.schedule, { limit });
    const older = lineage.filter((g) => g.scheduledAt <= oldest);
    const completedOlder = older.filter((g) => g.state === 'completed').length;
    if (lineage.length < limit || completedOlder > count) return lineage;
  }
}
