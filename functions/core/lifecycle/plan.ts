import type { InstanceInfo, Inventory, VolumeInfo } from '#core/backup/ports.ts';
import { type Problem, selectTargets } from '#core/backup/selection.ts';
import { type Config, copiesForSchedule, type Policy } from '#core/config/config.ts';
import { nextRunAt } from '#core/config/next-run.ts';
import type { Catalog } from '#core/model/catalog.ts';
import type { Generation, Target } from '#core/model/generation.ts';
import type { Clock } from '#core/model/ports.ts';
import { isExcluded, policiesOf } from '#core/model/tags.ts';
import { anInterlockMemo, type InterlockMemo, interlock } from './interlocks.ts';
import type { Pruner } from './ports.ts';
import { dueReplicas } from './prune.ts';
import { primaryOf, type Replica, regionOf } from './replica.ts';
import { placeInLineage } from './retention.ts';

export interface PlanDeps {
  config: Config;
  inventory: Inventory;
  catalog: Catalog;
  pruner: Pruner;
  clock: Clock;
}

export interface PlannedSnapshot {
  policy: string;
  schedule: string;
  /** Undefined for `rate(...)` schedules and cron forms the plan does not evaluate (`L`, `W`, `#`). */
  nextRunAt?: string;
  target: Target;
  volumes: string[];
  excluded: { volumeId: string; reason: string }[];
  ami: boolean;
}

export interface PlannedPrune {
  generationId: string;
  policy: string;
  schedule: string;
  target: Target;
  takenAt?: string;
  expiresAt: string;
  snapshotIds: string[];
  amiId?: string;
  /** `expired` (due at the plan's time) or `pushed out by the next run` of its schedule. */
  why: string;
  /** Set when it is the generation's DR copy in this Region that would be pruned, not its primary snapshots. */
  region?: string;
}

/** SPEC §7 `plan`, plus `held`: due generations an interlock keeps, with the reason. */
export interface Plan {
  at: string;
  snapshot: PlannedSnapshot[];
  copy: { policy: string; schedule: string; target: Target; region: string; nextRunAt?: string }[];
  prune: PlannedPrune[];
  held: { generationId: string; region?: string; reason: string }[];
  problems: Problem[];
}

/** What the next run of each schedule would snapshot, copy and prune, and the tag problems. Changes nothing. */
export async function plan(deps: PlanDeps, options: { policy?: string; at?: string } = {}): Promise<Plan> {
  const at = options.at ?? deps.clock.now().toISOString();
  const policies = deps.config.policies.filter((p) => !options.policy || p.name === options.policy);
  const result: Plan = { at, snapshot: [], copy: [], prune: [], held: [], problems: [] };
  const seen = new Set<string>();
  const memo = anInterlockMemo();
  for (const policy of policies) {
    const selection = await selectTargets(policy, deps.inventory);
    result.problems.push(...selection.problems);
    for (const planned of selection.targets) {
      for (const excluded of planned.excluded.filter((e) => e.reason === 'exclude-tag')) {
        result.problems.push({
          resourceId: excluded.volumeId,
          problem: `excluded from ${planned.target.id} by snapkeeper:exclude=true: policy ${policy.name} does not back it up`,
        });
      }
    }
    for (const schedule of policy.schedules) {
      const next = nextRunAt(schedule.expression, schedule.timezone, new Date(at))?.toISOString();
      for (const planned of selection.targets) {
        const entry = { policy: policy.name, schedule: schedule.name, target: planned.target };
        result.snapshot.push({
          ...entry,
          ...(next ? { nextRunAt: next } : {}),
          volumes: planned.volumes.map((v) => v.volumeId),
          excluded: planned.excluded,
          ami: schedule.ami,
        });
        for (const copy of copiesForSchedule(policy, schedule)) {
          result.copy.push({ ...entry, region: copy.region, ...(next ? { nextRunAt: next } : {}) });
        }
        await pushedOut(planned.target, policy, schedule.name, next ?? at, deps, result, seen, memo);
      }
    }
  }
  for (const generation of await deps.catalog.expiring(at, 1000)) {
    if (options.policy && generation.policy !== options.policy) continue;
    if (seen.has(generation.id)) continue;
    seen.add(generation.id);
    // In the expiry index for its primary snapshots, a DR copy, or both.
    for (const replica of dueReplicas(generation, at, deps.config.region)) {
      const hold = await interlock(replica, at, deps, memo);
      if (hold) result.held.push({ generationId: generation.id, ...regionOf(replica), reason: hold });
      else result.prune.push(pruneEntry(replica, replica.expiresAt ?? at, 'expired'));
    }
  }
  result.problems.push(...tagProblems(deps.config, await deps.inventory.taggedResources()));
  return result;
}

/** Generations the next run's new generation would push out of a count rule, by then expired. */
async function pushedOut(
  target: Target,
  policy: Policy,
  schedule: string,
  when: string,
  deps: PlanDeps,
  result: Plan,
  seen: Set<string>,
  memo: InterlockMemo,
) {
  const keep = policy.schedules.find((s) => s.name === schedule)?.keep;
  if (!keep?.count) return;
  const lineage = await deps.catalog.lineage(target.id, policy.name, schedule, { limit: keep.count + 10 });
  const next: Generation = {
    id: '(next run)',
    policy: policy.name,
    schedule,
    target,
    scheduledAt: when,
    takenAt: when,
    claimedAt: when,
    state: 'completed',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  };
  const home = deps.config.region;
  const expiries = placeInLineage(
    [next, ...lineage].map((g) => primaryOf(g, home)),
    keep,
    when,
  );
  for (const generation of lineage) {
    const expiresAt = expiries.get(generation.id);
    if (
      !expiresAt ||
      generation.expiresAt ||
      generation.deletedAt ||
      expiresAt > when ||
      seen.has(generation.id)
    )
      continue;
    seen.add(generation.id);
    const hold = await interlock(primaryOf(generation, home), when, deps, memo);
    if (hold) result.held.push({ generationId: generation.id, reason: hold });
    else result.prune.push(pruneEntry(primaryOf(generation, home), expiresAt, 'pushed out by the next run'));
  }
}

function pruneEntry(replica: Replica, expiresAt: string, why: string): PlannedPrune {
  const { generation } = replica;
  return {
    generationId: generation.id,
    policy: generation.policy,
    schedule: generation.schedule,
    target: generation.target,
    ...(generation.takenAt ? { takenAt: generation.takenAt } : {}),
    expiresAt,
    snapshotIds: [...replica.snapshotIds],
    ...(replica.imageIds[0] ? { amiId: replica.imageIds[0] } : {}),
    why,
    ...regionOf(replica),
  };
}

/** Tagging an operator should fix (SPEC §1: reported, never ignored). */
export function tagProblems(
  config: Config,
  tagged: { instances: InstanceInfo[]; volumes: VolumeInfo[] },
): Problem[] {
  const problems: Problem[] = [];
  const byName = new Map(config.policies.map((p) => [p.name, p]));
  const known = `policies: ${[...byName.keys()].join(', ')}`;
  const check = (resourceId: string, names: string[], kind: 'instances' | 'volumes') => {
    for (const name of names) {
      const policy = byName.get(name);
      if (!policy)
        problems.push({
          resourceId,
          problem: `snapkeeper:policy names "${name}", which is no policy (${known})`,
        });
      else if (policy.targets !== kind) {
        problems.push({
          resourceId,
          problem: `tagged for policy "${name}", which backs up ${policy.targets}, not ${kind}; ${kind === 'volumes' ? 'tag its instance' : 'tag its volumes'} instead`,
        });
      }
    }
  };
  const volumes = new Map(tagged.volumes.map((v) => [v.volumeId, v]));
  for (const instance of tagged.instances) check(instance.instanceId, policiesOf(instance.tags), 'instances');
  for (const volume of tagged.volumes) {
    const names = policiesOf(volume.tags);
    check(volume.volumeId, names, 'volumes');
    const volumePolicies = names.filter((n) => byName.get(n)?.targets === 'volumes');
    if (volumePolicies.length > 1) {
      problems.push({
        resourceId: volume.volumeId,
        problem: `tagged for ${volumePolicies.length} volume policies (${volumePolicies.join(', ')}); each takes its own snapshots of it`,
      });
    }
  }
  for (const instance of tagged.instances) {
    const instancePolicies = policiesOf(instance.tags).filter((n) => byName.get(n)?.targets === 'instances');
    for (const attached of instance.volumes) {
      const volume = volumes.get(attached.volumeId);
      // An excluded volume is not taken through its instance, so it is covered once, as the advice intends.
      if (
        volume &&
        !isExcluded(volume.tags) &&
        instancePolicies.length > 0 &&
        policiesOf(volume.tags).some((n) => byName.get(n)?.targets === 'volumes')
      ) {
        problems.push({
          resourceId: attached.volumeId,
          problem: `also snapshotted through its instance ${instance.instanceId}; tag one or the other, or set snapkeeper:exclude=true`,
        });
      }
    }
  }
  return problems;
}
