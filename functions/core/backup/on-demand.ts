import { createHash } from 'node:crypto';
import { findPolicy, ON_DEMAND_SCHEDULE, onDemandRule, type Policy } from '#core/config/config.ts';
import { TargetNotSelectedError } from '#core/model/errors.ts';
import type { Target } from '#core/model/generation.ts';
import { policiesOf, TAG } from '#core/model/tags.ts';
import type { Inventory } from './ports.ts';
import { type RunDeps, type RunReport, runSelected } from './run.ts';
import { type Selection, selectTargets } from './selection.ts';

/** A backup taken now, outside the policy's schedules (`snapkeeper backup`, the backup Lambda). */
export interface OnDemandRequest {
  policy: string;
  /** One target of the policy (instance id, volume id or `group:<name>`); default: every target it backs up. */
  targetId?: string;
  /** What makes the request one backup however often it is delivered: the same id twice makes one generation. */
  requestId: string;
}

export interface OnDemandReport extends RunReport {
  requestId: string;
}

/**
 * Backs up a policy's targets now, through the run's one take path (claim, the policy's consistency, record,
 * DR copies). Its generations form the lineage of the reserved schedule `on-demand`, kept by the policy's
 * `onDemand.keep.days` alone, so they never count against a schedule's `keep`. Their time is the clock's, never
 * the caller's, and a redelivered request finds the generation its first delivery claimed.
 */
export async function backUpOnDemand(request: OnDemandRequest, deps: RunDeps): Promise<OnDemandReport> {
  const { policy } = findPolicy(deps.config, request.policy);
  const selection = await selectTargets(policy, deps.inventory);
  const chosen = request.targetId
    ? await onlyTarget(selection, request.targetId, policy, deps.inventory)
    : selection;
  const run = {
    policy: policy.name,
    schedule: ON_DEMAND_SCHEDULE,
    scheduledAt: deps.clock.now().toISOString(),
  };
  const idOf = (target: Target) => onDemandGenerationId(policy.name, request.requestId, target);
  const report = await runSelected({ request: run, policy, rule: onDemandRule(policy), idOf }, chosen, deps);
  return { ...report, requestId: request.requestId };
}

/**
 * The generation id of an on-demand backup: derived from the request id and the target, not from a time, so
 * every delivery of the request computes it and the catalog's claim makes them one generation.
 */
export function onDemandGenerationId(policy: string, requestId: string, target: Target): string {
  const digest = createHash('sha256')
    .update([policy, ON_DEMAND_SCHEDULE, requestId, target.kind, target.id].join('\n'))
    .digest('hex')
    .slice(0, 16);
  return `gen-${ON_DEMAND_SCHEDULE}-${digest}`;
}

/**
 * The one target asked for, with the problems found about it. A member of a consistency group brings its group:
 * the group is frozen and snapshotted together or not at all.
 */
async function onlyTarget(
  selection: Selection,
  targetId: string,
  policy: Policy,
  inventory: Inventory,
): Promise<Selection> {
  const planned = selection.targets.find(
    (t) => t.target.id === targetId || (t.target.members ?? []).includes(targetId),
  );
  const problems = selection.problems.filter((p) => p.resourceId === targetId);
  if (planned) return { targets: [planned], problems };
  const [problem] = problems;
  if (problem) {
    throw new TargetNotSelectedError(
      `${targetId} is tagged for policy "${policy.name}" but cannot be backed up now: ${problem.problem}`,
    );
  }
  throw new TargetNotSelectedError(await whyNotSelected(targetId, policy, inventory, selection));
}

async function whyNotSelected(
  targetId: string,
  policy: Policy,
  inventory: Inventory,
  selection: Selection,
): Promise<string> {
  const kind = policy.targets === 'instances' ? 'instance' : 'volume';
  const [found] =
    policy.targets === 'instances'
      ? await inventory.instances([targetId])
      : await inventory.volumes([targetId]);
  const choices = selection.targets.map((t) => t.target.id).join(', ') || 'none';
  if (!found) {
    return `no ${kind} "${targetId}" found in the Region; policy "${policy.name}" backs up ${kind}s: pass one it backs up (${choices}), or omit --target`;
  }
  const tagged = policiesOf(found.tags);
  return `${kind} "${targetId}" is not tagged for policy "${policy.name}" (${TAG.policy}=${tagged.join(',') || '(none)'}): add "${policy.name}" to its ${TAG.policy} tag, or pass a target the policy backs up (${choices})`;
}
