import { selectTargets } from '#core/backup/selection.ts';
import type { Policy } from '#core/config/config.ts';
import type { Generation, Target } from '#core/model/generation.ts';
import { DAY_MS } from '#core/model/time.ts';
import { RPO_GRACE_SECONDS } from './compliance.ts';
import {
  type UnknownPolicyName,
  type Unprotected,
  unknownPolicyNames,
  unprotectedResources,
} from './coverage.ts';
import type { ReportDeps } from './ports.ts';
import { type TargetReport, targetReport } from './target.ts';

/** `snapkeeper report`: per policy and target, what can be restored and how it measures against the schedules. */

/** The most generations read per policy: every one scheduled at or before the report's time, newest first. */
export const REPORT_READ_LIMIT = 50_000;

export interface Report {
  at: string;
  window: { from: string; to: string; days: number };
  graceSeconds: number;
  policies: { name: string; targets: TargetReport[] }[];
  unprotected: Unprotected[];
  /** Tag values that name no policy. */
  problems: UnknownPolicyName[];
  /** Targets the policies select now that are beyond their interval (what `--fail-over-rpo` fails on). */
  breaches: { policy: string; target: string }[];
}

export interface ReportRequest {
  at: string;
  windowDays: number;
  policy?: string;
}

export async function buildReport(deps: ReportDeps, request: ReportRequest): Promise<Report> {
  const at = new Date(request.at);
  const from = new Date(at.getTime() - request.windowDays * DAY_MS);
  const policies = deps.config.policies.filter((p) => !request.policy || p.name === request.policy);
  const reports: Report['policies'] = [];
  for (const policy of policies) {
    reports.push({ name: policy.name, targets: await policyTargets(deps, policy, { from, at }) });
  }
  const fleet = await deps.fleet.allResources();
  return {
    at: at.toISOString(),
    window: { from: from.toISOString(), to: at.toISOString(), days: request.windowDays },
    graceSeconds: RPO_GRACE_SECONDS,
    policies: reports,
    unprotected: await unprotectedResources(deps, fleet),
    problems: unknownPolicyNames(deps.config, fleet),
    breaches: reports.flatMap((p) =>
      p.targets.filter((t) => t.breach).map((t) => ({ policy: p.name, target: t.id })),
    ),
  };
}

/** The policy's targets: those it selects now, and those it has generations of, in id order. */
async function policyTargets(
  deps: ReportDeps,
  policy: Policy,
  window: { from: Date; at: Date },
): Promise<TargetReport[]> {
  const history = await deps.catalog.byPolicy(policy.name, {
    atOrBefore: window.at.toISOString(),
    limit: REPORT_READ_LIMIT,
  });
  const selected = (await selectTargets(policy, deps.inventory)).targets.map((t) => t.target);
  const byTarget = new Map<string, { target: Target; generations: Generation[] }>();
  for (const target of selected) byTarget.set(target.id, { target, generations: [] });
  for (const generation of history) {
    const entry = byTarget.get(generation.target.id) ?? { target: generation.target, generations: [] };
    entry.generations.push(generation);
    byTarget.set(generation.target.id, entry);
  }
  const selectedIds = new Set(selected.map((t) => t.id));
  const live = [...byTarget.values()].flatMap((e) =>
    e.generations.filter((g) => !g.deletedAt || g.deletedAt > window.at.toISOString()),
  );
  const sizes = await deps.sizes.fullSizes(live.flatMap((g) => g.snapshots.map((s) => s.snapshotId)));
  const targets: TargetReport[] = [];
  for (const { target, generations } of [...byTarget.values()].sort((a, b) =>
    a.target.id.localeCompare(b.target.id),
  )) {
    const drill = await deps.drills.lastDrill(target.id, window.at.toISOString());
    targets.push(
      targetReport(policy, target, generations, {
        window,
        selected: selectedIds.has(target.id),
        sizes,
        ...(drill ? { drill } : {}),
      }),
    );
  }
  return targets;
}
