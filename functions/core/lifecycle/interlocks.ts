import {
  type Config,
  copiesForSchedule,
  type KeepRule,
  type Policy,
  type ScheduleRule,
  scheduleOf,
} from '#core/config/config.ts';
import { copyRulesOf } from '#core/copies/queue.ts';
import type { Catalog } from '#core/model/catalog.ts';
import type { Generation } from '#core/model/generation.ts';
import { daysAfter } from '#core/model/time.ts';
import type { Pruner } from './ports.ts';
import { counterpartIn, isAhead, nounOf, type Replica, timeOf } from './replica.ts';

/**
 * The safety interlocks (SPEC §5.4): what holds a due replica back, whatever its expiry says. The same for the
 * primary and for each DR copy, which differ only in the rule that keeps them and in what the primary owes its
 * copies (a source is kept until its copies have completed).
 */

export interface InterlockDeps {
  config: Config;
  catalog: Catalog;
  pruner: Pruner;
}

/** What one pass remembers between replicas, so a target's newest replica (per Region) is read once. */
export interface InterlockMemo {
  newest: Map<string, Promise<Generation | undefined>>;
}

export function anInterlockMemo(): InterlockMemo {
  return { newest: new Map() };
}

/** The keep rule a replica lives under: its schedule's, or its copy rule's; undefined once the config has neither. */
export function keepOf(replica: Replica, config: Config): KeepRule | undefined {
  if (replica.kind === 'copy') {
    return copyRulesOf(config, replica.generation).find((r) => r.region === replica.region)?.keep;
  }
  return scheduleOf(config, replica.generation).schedule?.keep;
}

/** The first interlock that holds a replica back, in words; undefined when it may go. */
export async function interlock(
  replica: Replica,
  now: string,
  deps: InterlockDeps,
  memo: InterlockMemo = anInterlockMemo(),
): Promise<string | undefined> {
  const { generation } = replica;
  if (isAhead(replica, now)) return aheadReason(replica);
  if (replica.state === 'pending') {
    return replica.kind === 'copy'
      ? `its copy to ${replica.region} is still in progress`
      : 'its outcome is not final yet';
  }
  const { policy, schedule } = scheduleOf(deps.config, generation);
  if (!policy || !keepOf(replica, deps.config)) {
    return replica.kind === 'copy'
      ? `the copy rule of ${generation.policy}/${generation.schedule} for ${replica.region} is no longer in the config; restore it there, or keep the copy`
      : `its policy or schedule (${generation.policy}/${generation.schedule}) is no longer in the config; restore it there, or keep the generation`;
  }
  if (replica.state !== 'completed') return undefined;
  if (replica.kind === 'primary' && schedule) {
    const hold = copiesOwed(generation, policy, schedule);
    if (hold) return hold;
  }
  const newest = await newestLike(replica, now, deps.catalog, memo);
  if (newest && newest.id !== generation.id) return undefined;
  return orphanHold(replica, now, policy, deps.pruner);
}

/**
 * Why a replica dated after now is held: neither placed, counted nor deleted until its time. Stable from pass to
 * pass, so the record is written once.
 */
export function aheadReason(replica: Replica): string {
  return `it is scheduled for ${timeOf(replica)}, after now; retention neither counts it nor deletes anything of it until then: check the clock, or the event or \`run --at\` that started its run`;
}

/** A completed source is kept until each of its schedule's DR copies has completed. */
function copiesOwed(generation: Generation, policy: Policy, schedule: ScheduleRule): string | undefined {
  for (const rule of copiesForSchedule(policy, schedule)) {
    const record = generation.copies.find((c) => c.region === rule.region);
    if (record?.state === 'failed') {
      return `its copy to ${rule.region} failed (${record.failure ?? 'no reason recorded'}); the source is kept until a copy completes there`;
    }
    if (record?.state !== 'completed') return `its copy to ${rule.region} has not completed`;
  }
  return undefined;
}

/**
 * The newest completed, undeleted replica of the target like this one (the primary, or the copy in its Region),
 * whose time is not ahead of now: a record dated in the future is never what keeps the real newest one safe.
 */
function newestLike(
  replica: Replica,
  now: string,
  catalog: Catalog,
  memo: InterlockMemo,
): Promise<Generation | undefined> {
  const target = replica.generation.target.id;
  const key = [target, replica.kind === 'copy' ? replica.region : '', now].join('\n');
  let newest = memo.newest.get(key);
  if (!newest) {
    newest = newestWhere(target, catalog, (g) => {
      const like = counterpartIn(g, replica);
      return like !== undefined && like.state === 'completed' && !like.deletedAt && !isAhead(like, now);
    });
    memo.newest.set(key, newest);
  }
  return newest;
}

/**
 * The newest completed replica of a target is kept while the target exists; once it is gone, the orphan rule
 * decides, counting its days from the replica's time.
 */
async function orphanHold(
  replica: Replica,
  now: string,
  policy: Policy,
  pruner: Pruner,
): Promise<string | undefined> {
  const { target } = replica.generation;
  const what = nounOf(replica);
  if ((await pruner.existingTargets(target.members ?? [target.id])).size > 0) {
    return `it is the newest completed ${what} of ${target.id}`;
  }
  const days = policy.orphans.keepNewestDays;
  if (days === undefined) {
    return `${target.id} no longer exists and this is its newest ${what}; the orphan rule keeps it (set orphans.keepNewestDays to let it go)`;
  }
  if (now < daysAfter(timeOf(replica), days)) {
    return `${target.id} no longer exists; the orphan rule keeps its newest ${what} for ${days} days`;
  }
  return undefined;
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
