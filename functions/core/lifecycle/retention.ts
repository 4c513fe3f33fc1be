import type { KeepRule } from '#core/config/config.ts';
import type { Generation } from '#core/model/generation.ts';
import { daysAfter } from '#core/model/time.ts';

/** When a generation's time in a lineage ends: undefined while a keep rule still keeps it open-endedly. */
export type Expiry = string | undefined;

/**
 * Places generations of one lineage (one target, policy and schedule; newest first) under a keep rule
 * (SPEC §4 `keep`): a generation is kept while any rule that applies to it keeps it.
 *
 * - `count: n` keeps a generation while fewer than n completed generations are newer than it. Its end is
 *   the time the n-th newer completed generation was taken, which depends only on the lineage, so a replay
 *   on a simulated clock computes the same expiry as the original run.
 * - `days: d` keeps a generation until d days after it was taken.
 *
 * Pending generations are not placed (their outcome is not known yet). Failed ones are placed like completed
 * ones but never count as newer completed generations: a failure does not push a good backup out.
 * This function only computes expiries; what may really be deleted is decided by the interlocks in prune.
 */
export function placeInLineage(lineage: readonly Generation[], keep: KeepRule): Map<string, Expiry> {
  const expiries = new Map<string, Expiry>();
  // takenAt of the completed generations newer than the one being placed, newest first: the last `count` of
  // them are its nearest newer neighbours, and the newest of those is the one whose arrival pushed it out.
  const newerCompleted: string[] = [];
  for (const generation of lineage) {
    if (generation.state === 'pending') continue;
    expiries.set(generation.id, expiryOf(generation, keep, newerCompleted));
    if (generation.state === 'completed') newerCompleted.push(takenAt(generation));
  }
  return expiries;
}

function expiryOf(generation: Generation, keep: KeepRule, newerCompleted: readonly string[]): Expiry {
  const ends: string[] = [];
  if (keep.count !== undefined) {
    if (newerCompleted.length < keep.count) return undefined; // the count rule still keeps it, no end in sight
    const pushedOutBy = newerCompleted[newerCompleted.length - keep.count] as string;
    ends.push(pushedOutBy);
  }
  if (keep.days !== undefined) {
    ends.push(daysAfter(takenAt(generation), keep.days));
  }
  return ends.sort().at(-1);
}

function takenAt(generation: Generation): string {
  return generation.takenAt ?? generation.scheduledAt;
}
