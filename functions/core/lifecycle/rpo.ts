import type { Inventory } from '#core/backup/ports.ts';
import { selectTargets } from '#core/backup/selection.ts';
import type { Config, Policy } from '#core/config/config.ts';
import type { CatalogReader } from '#core/model/catalog.ts';
import { mapLimit } from '#core/model/concurrency.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';

export interface RpoDeps {
  config: Config;
  inventory: Inventory;
  catalog: Pick<CatalogReader, 'byTarget'>;
  clock: Clock;
  log: Log;
}

/** Where a policy stands against its schedules: the recovery point of its least protected target. */
export interface PolicyRpo {
  policy: string;
  /** The policy's targets as tagged now. */
  targets: number;
  /**
   * The oldest "newest completed generation" among its targets, in seconds: the data a restore of that target
   * would lose now. A target with generations but none completed counts from its oldest one found. Undefined
   * when no target has any generation yet.
   */
  rpoSeconds?: number;
  /** The target `rpoSeconds` is about. */
  worstTargetId?: string;
  /** Targets with no generation of this policy at all (newly tagged, their first run not yet due or not yet run). */
  withoutGeneration: number;
}

/** A target's generations looked at, newest first: enough to step over a run of failed ones. */
const LOOK_BACK = 25;

/**
 * The recovery point of every policy, for the RPO alarms (SPEC §8). A policy whose targets cannot be listed or read
 * is logged and left out, so one bad policy does not hide the others' figures.
 */
export async function policyRpos(deps: RpoDeps): Promise<PolicyRpo[]> {
  const result: PolicyRpo[] = [];
  for (const policy of deps.config.policies) {
    try {
      result.push(await policyRpo(policy, deps));
    } catch (error) {
      deps.log.error('rpo not measured', { policy: policy.name, error });
    }
  }
  return result;
}

async function policyRpo(policy: Policy, deps: RpoDeps): Promise<PolicyRpo> {
  const now = deps.clock.now().getTime();
  const { targets } = await selectTargets(policy, deps.inventory);
  const ages = await mapLimit(targets, 8, async ({ target }) => {
    const generations = (await deps.catalog.byTarget(target.id, { limit: LOOK_BACK })).filter(
      (g) => g.policy === policy.name,
    );
    const since = recoveryPoint(generations);
    return {
      targetId: target.id,
      seconds: since === undefined ? undefined : Math.max(0, (now - since) / 1000),
    };
  });
  const measured = ages.filter((a): a is { targetId: string; seconds: number } => a.seconds !== undefined);
  const worst = measured.reduce<(typeof measured)[number] | undefined>(
    (oldest, age) => (oldest === undefined || age.seconds > oldest.seconds ? age : oldest),
    undefined,
  );
  return {
    policy: policy.name,
    targets: targets.length,
    ...(worst ? { rpoSeconds: Math.round(worst.seconds), worstTargetId: worst.targetId } : {}),
    withoutGeneration: ages.length - measured.length,
  };
}

/**
 * The instant a target's data is protected up to: its newest completed, undeleted generation's point in time. With
 * none among those looked at, the oldest scheduled time found: the target has been unprotected since at least then.
 */
function recoveryPoint(newestFirst: readonly Generation[]): number | undefined {
  const completed = newestFirst.find((g) => g.state === 'completed' && !g.deletedAt);
  if (completed) return Date.parse(completed.takenAt ?? completed.scheduledAt);
  const oldest = newestFirst.at(-1);
  return oldest && Date.parse(oldest.scheduledAt);
}
