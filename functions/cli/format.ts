import { isFailedTarget } from '#core/backup/results.ts';
import type { RunReport } from '#core/backup/run.ts';
import type { ReconcileDryRun } from '#core/lifecycle/dry-run.ts';
import type { Plan } from '#core/lifecycle/plan.ts';
import type { ReconcileReport } from '#core/lifecycle/reconcile.ts';
import type { Generation } from '#core/model/generation.ts';
import type { ListedGeneration } from '#core/recovery/generation-list.ts';
import type { RebuildReport } from '#core/recovery/manifests.ts';
import type { VolumeInitialization } from '#core/recovery/ports.ts';
import type { ReplaceVolumeResult } from '#core/recovery/replace.ts';
import type { RestoreTimes, RestoreVolumeResult } from '#core/recovery/restore.ts';
import type { RestoreInstanceResult } from '#core/recovery/restore-instance.ts';
import type { VolumeShape } from '#core/recovery/volume-options.ts';
import type { MetricDatum } from '#handlers/metrics.ts';
import type { PumpReport } from './copy-pump.ts';
import type { SetupStep } from './sandbox-setup.ts';

/** Human-readable output of the CLI. `--json` bypasses all of this. */

/** A generation's consistency in a table cell. */
export const CONSISTENCY_MARK: Record<Generation['consistency'], string> = {
  application: 'app',
  filesystem: 'fs',
  crash: 'crash',
  failed: 'FAILED',
};

/** `1 round`, `2 rounds`: a count with its noun agreeing. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Columns padded to their widest cell. Wider than `columns`, the last columns give way first (the ids a person
 * copies come first), each down to its header's width (or 8), their longer cells ending in `…`; `--json` has
 * every value whole.
 */
export function table(header: string[], rows: string[][], columns?: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  let over =
    widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1) - (columns ?? Number.POSITIVE_INFINITY);
  for (let i = widths.length - 1; i >= 0 && over > 0; i--) {
    const give = Math.min(over, Math.max(0, (widths[i] ?? 0) - Math.max((header[i] ?? '').length, 8)));
    widths[i] = (widths[i] ?? 0) - give;
    over -= give;
  }
  const clip = (cell: string, width: number) => (cell.length > width ? `${cell.slice(0, width - 1)}…` : cell);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => clip(c, widths[i] ?? 0).padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `2026-11-21T03:00:00.000Z` → `2026-11-21 03:00Z`: enough for a person, exact in `--json`. */
export function shortTime(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z` : '—';
}

/** The listing as a table, fitted into `columns` when the CLI writes to a terminal that wide. */
export function formatGenerations(generations: readonly ListedGeneration[], columns?: number): string {
  if (generations.length === 0) return 'No generations match.';
  return table(
    ['GENERATION', 'POLICY/SCHEDULE', 'TARGET', 'TAKEN', 'STATE', 'CONSISTENCY', 'COPIES', 'SNAPSHOTS'],
    generations.map((g) => [
      g.id,
      `${g.policy}/${g.schedule}`,
      g.target.id,
      shortTime(g.takenAt ?? g.scheduledAt),
      g.state,
      CONSISTENCY_MARK[g.consistency],
      g.copies.map(copyCell).join(' ') || '—',
      g.snapshots.map((s) => `${s.volumeId}→${s.snapshotId}`).join(' ') ||
        (g.failure ? `(${g.failure})` : '—'),
    ]),
    columns,
  );
}

/** `us-west-2 completed (lag 12m)`: where a generation's DR copy stands. */
function copyCell(copy: Generation['copies'][number]): string {
  if (copy.deletedAt) return `${copy.region}:deleted`;
  const lag = copy.lagSeconds === undefined ? '' : ` (lag ${Math.round(copy.lagSeconds / 60)}m)`;
  return `${copy.region}:${copy.state}${lag}`;
}

/**
 * The figures the Lambdas publish as metrics, under the same names, on one line: `Targets 2, Snapshots 3, …,
 * ThrottledCallsAbsorbed 4`. Several values (a freeze window per target) show their maximum; a figure about one
 * policy or Region among others names it in brackets.
 */
export function formatFigures(figures: readonly MetricDatum[]): string {
  const aboutOf = (figure: MetricDatum) => figure.dimensions.Policy ?? figure.dimensions.Region;
  // A run's figures are all about its policy, which its header line names already.
  const shared = figures.every((f) => aboutOf(f) === aboutOf(figures[0] as MetricDatum));
  return figures
    .map((figure) => {
      const about = shared ? undefined : aboutOf(figure);
      const value = Math.max(...figure.values);
      const shown =
        figure.unit === 'Seconds'
          ? duration(value)
          : figure.unit === 'Milliseconds'
            ? `${value} ms`
            : `${value}`;
      return `${figure.name}${about ? `[${about}]` : ''} ${figure.values.length > 1 ? 'max ' : ''}${shown}`;
    })
    .join(', ');
}

function duration(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  return minutes < 60
    ? `${minutes}m`
    : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export function formatRun(report: RunReport, figures: readonly MetricDatum[] = []): string {
  const counts = new Map<string, number>();
  for (const r of report.results) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const summary = [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ') || 'no targets';
  const lines = [
    `Run ${report.policy}/${report.schedule} at ${report.scheduledAt}: ${summary}`,
    ...(figures.length > 0 ? [`  ${formatFigures(figures)}`] : []),
    ...report.results.map(
      (r) =>
        `  ${isFailedTarget(r) ? '✗' : '✓'} ${r.targetId.padEnd(21)} ${r.generationId}  ${r.outcome}, ${r.state}` +
        (r.snapshotIds.length ? `  [${r.snapshotIds.join(' ')}]` : '') +
        (r.failure ? `  ${r.failure}` : ''),
    ),
  ];
  for (const p of report.problems) lines.push(`  ! ${p.resourceId}: ${p.problem}`);
  return lines.join('\n');
}

export function formatRestore(result: RestoreVolumeResult): string {
  const from = `generation ${result.generationId} (snapshot ${result.sourceSnapshotId})`;
  if (result.dryRun) {
    return `Dry run: would restore ${from} into ${result.availabilityZone} (${result.region}) as ${describeShape(result.volume)}; every check passed, nothing was created.`;
  }
  return [
    `Restored ${from} as ${result.volumeId} in ${result.availabilityZone} (${result.region}), ${describeShape(result.volume)}.`,
    ...formatRecoveryTimes(result, result.volumeId ?? ''),
  ].join('\n');
}

function describeShape(shape: VolumeShape): string {
  const parts = [
    shape.volumeType ?? 'the source volume type',
    shape.sizeGiB && `${shape.sizeGiB} GiB`,
    shape.iops && `${shape.iops} IOPS`,
    shape.throughput && `${shape.throughput} MiB/s`,
    shape.initializationRate && `initialized at ${shape.initializationRate} MiB/s`,
  ];
  return parts.filter(Boolean).join(', ');
}

/** The recovery time as a runbook measured it: requested, available, fully initialized (or why unknown). */
export function formatRecoveryTimes(times: RestoreTimes, volumeId: string): string[] {
  const since = (at: string) => secondsBetween(times.requestedAt, at);
  const lines = [`  requested     ${times.requestedAt}`];
  if (times.availableAt)
    lines.push(`  available     ${times.availableAt} (after ${since(times.availableAt)})`);
  const init = times.initialization;
  if (init?.state === 'initialized') {
    lines.push(`  initialized   by ${init.observedAt} (after ${since(init.observedAt)})`);
  } else if (init?.state === 'initializing') {
    const eta = init.estimatedInitializedAt ? `, estimated done ${init.estimatedInitializedAt}` : '';
    lines.push(
      `  initialized   not yet: ${init.progressPercent ?? '?'}% at ${init.observedAt}${eta}; until then reads of unfetched blocks are slow`,
    );
  } else if (init) {
    lines.push(
      `  initialized   not reported by this endpoint (${init.reason}); in AWS: aws ec2 describe-volume-status --volume-ids ${volumeId}`,
    );
  }
  return lines;
}

export function formatReplace(result: ReplaceVolumeResult): string {
  const what = `${result.oldVolumeId} at ${result.device} of ${result.instanceId} (${result.instanceState})`;
  const from = `generation ${result.generationId} (snapshot ${result.sourceSnapshotId})`;
  if (result.dryRun) {
    return [
      `Dry run: would replace ${what} with a restore of ${from} in ${result.availabilityZone}; every check passed, nothing was changed.`,
      `  steps: ${result.steps.join(' → ')}`,
    ].join('\n');
  }
  return [
    `${result.repeated ? 'Already done by this request id: replaced' : 'Replaced'} ${what} with ${result.newVolumeId}, restored from ${from}.`,
    `  ${result.oldVolumeId} is kept, detached, tagged snapkeeper:replaced-by=${result.newVolumeId}.`,
    `  steps: ${result.steps.join(' → ')}; request ${result.requestId}`,
    ...formatRecoveryTimes(result, result.newVolumeId ?? ''),
    ...(result.completedAt ? [`  completed     ${result.completedAt}`] : []),
  ].join('\n');
}

export function formatRestoreInstance(result: RestoreInstanceResult): string {
  const from = `generation ${result.generationId} (AMI ${result.imageId}, source ${result.sourceInstanceId})`;
  const where = `${result.instanceType} in ${result.subnetId} (${result.availabilityZone}, ${result.region})`;
  const volumes = result.volumes.map((v) => `${v.deviceName} ← ${v.snapshotId}`).join(', ');
  const carried =
    result.carriedFrom === 'source-instance'
      ? '  what the request left out was carried from the live source instance'
      : '  the source instance is gone: nothing was carried from it';
  const head = result.dryRun
    ? [
        `Dry run: would launch ${from} as ${where}; every check passed, nothing was launched.`,
        `  security groups ${result.securityGroupIds.join(', ')}${result.keyName ? `; key ${result.keyName}` : ''}${result.instanceProfile ? `; profile ${result.instanceProfile}` : ''}`,
        ...(volumes ? [`  data volumes ${volumes}`] : []),
        carried,
        `  steps: ${result.steps.join(' → ')}`,
      ]
    : [
        `${result.repeated ? 'Already done by this request id: launched' : 'Launched'} ${result.instanceId} from ${from} as ${where}.`,
        ...Object.entries(result.volumeIds).map(([device, volumeId]) => `  ${device}  ${volumeId} attached`),
        carried,
        `  steps: ${result.steps.join(' → ')}; request ${result.requestId}`,
        `  requested     ${result.requestedAt}`,
        ...sinceRequested('running      ', result.requestedAt, result.runningAt),
        ...sinceRequested('attached     ', result.requestedAt, result.attachedAt),
        ...Object.entries(result.initialization).map(
          ([device, init]) => `  ${device} ${initializationOf(init)}`,
        ),
      ];
  return [...head, ...result.warnings.map((w) => `  ! ${w}`)].join('\n');
}

function secondsBetween(from: string, to: string): string {
  return `${Math.round((Date.parse(to) - Date.parse(from)) / 1000)} s`;
}

/** A line `label at (after N s)` when `at` is known. */
function sinceRequested(label: string, requestedAt: string, at: string | null): string[] {
  return at ? [`  ${label} ${at} (after ${secondsBetween(requestedAt, at)})`] : [];
}

function initializationOf(init: VolumeInitialization): string {
  if (init.state === 'initialized') return `initialized by ${init.observedAt}`;
  if (init.state === 'initializing')
    return `initializing: ${init.progressPercent ?? '?'}% at ${init.observedAt}`;
  return `initialization not reported (${init.reason})`;
}

export function formatInit(steps: readonly SetupStep[]): string {
  return steps
    .map((s) => `${s.action === 'created' ? 'created' : 'exists '} ${s.resource} ${s.name} (${s.region})`)
    .join('\n');
}

export function formatReconcile(report: ReconcileReport, figures: readonly MetricDatum[] = []): string {
  const lines = [
    `Reconciled ${plural(report.examined, 'open generation')}: ${report.completed.length} completed, ${report.failed.length} failed, ${report.stillPending.length} still pending`,
    `  retention set ${plural(report.expiries.length, 'expiry', 'expiries')}; pruned ${report.pruned.length}, held ${report.held.length}`,
    ...(figures.length > 0 ? [`  ${formatFigures(figures)}`] : []),
  ];
  for (const f of report.failed) lines.push(`  ✗ ${f.generationId}: ${f.failure}`);
  for (const s of report.stuck)
    lines.push(`  ! ${s.generationId} pending for ${s.pendingMinutes} min (stuck)`);
  if (report.copiesQueued.length)
    lines.push(`  queued DR copies of ${plural(report.copiesQueued.length, 'generation')}`);
  for (const e of report.copyExpiries)
    lines.push(`  copy of ${e.generationId} in ${e.region} expires ${e.expiresAt}`);
  for (const p of report.pruned) {
    lines.push(
      `  − pruned ${p.generationId}${p.region ? ` (copy in ${p.region})` : ''}: ${[...(p.amiIds ?? []), ...p.snapshotIds].filter(Boolean).join(' ')}`,
    );
  }
  for (const h of report.held)
    lines.push(`  ⏸ held ${h.generationId}${h.region ? ` (copy in ${h.region})` : ''}: ${h.reason}`);
  for (const f of report.slotsFreed)
    lines.push(`  freed copy slot ${f.key} in ${f.region} (its worker stopped)`);
  for (const o of report.orphans.recorded)
    lines.push(`  + recorded orphan ${o.snapshotId} of ${o.volumeId} in ${o.generationId}`);
  for (const o of report.orphans.deleted)
    lines.push(`  − deleted orphan ${o.snapshotId} of ${o.generationId}: ${o.reason}`);
  for (const o of report.orphans.held)
    lines.push(`  ⏸ held orphan ${o.snapshotId} of ${o.generationId}: ${o.reason}`);
  for (const n of report.notes) lines.push(`  note ${n.generationId}: ${n.note}`);
  return lines.join('\n');
}

/** A dry run: each action the pass would take with its reason, then how many writes it would have made. */
export function formatReconcileDryRun(report: ReconcileDryRun): string {
  const lines = [
    `Dry run: nothing was changed. A pass now would examine ${report.examined} open generations and:`,
  ];
  if (report.actions.length === 0) lines.push('  do nothing');
  for (const a of report.actions) {
    const where = a.region ? ` (${a.region})` : '';
    const what = [a.generationId, ...(a.resources ?? [])].filter(Boolean).join(' ');
    lines.push(`  ${a.action} ${what}${where}: ${a.reason}`);
  }
  for (const s of report.stuck)
    lines.push(`  ! ${s.generationId} pending for ${s.pendingMinutes} min (stuck)`);
  const calls = new Map<string, number>();
  for (const w of report.writes) calls.set(w.call, (calls.get(w.call) ?? 0) + 1);
  const counts = [...calls].map(([call, n]) => `${n} × ${call}`).join(', ');
  lines.push(`Writes it would make: ${report.writes.length === 0 ? 'none' : counts}`);
  return lines.join('\n');
}

export function formatPlan(plan: Plan): string {
  const lines = [`Plan at ${plan.at} (nothing is changed)`];
  lines.push('', `Snapshot (${plan.snapshot.length}):`);
  for (const s of plan.snapshot) {
    const excluded = s.excluded.length
      ? `; excluding ${s.excluded.map((e) => `${e.volumeId} (${e.reason})`).join(', ')}`
      : '';
    lines.push(
      `  ${s.policy}/${s.schedule} ${s.nextRunAt ? `at ${shortTime(s.nextRunAt)}` : '(next time not computed)'}: ${s.target.id}${s.ami ? ' as an AMI' : ''} [${s.volumes.join(' ')}]${excluded}`,
    );
  }
  lines.push('', `Copy (${plan.copy.length}):`);
  for (const c of plan.copy) lines.push(`  ${c.policy}/${c.schedule}: ${c.target.id} → ${c.region}`);
  lines.push('', `Prune (${plan.prune.length}):`);
  for (const p of plan.prune) {
    lines.push(
      `  ${p.generationId} ${p.policy}/${p.schedule} ${p.target.id} taken ${shortTime(p.takenAt)}${p.region ? ` (copy in ${p.region})` : ''}: ${p.why}`,
    );
  }
  if (plan.held.length) lines.push('', `Held back (${plan.held.length}):`);
  for (const h of plan.held)
    lines.push(`  ${h.generationId}${h.region ? ` (copy in ${h.region})` : ''}: ${h.reason}`);
  lines.push('', `Problems (${plan.problems.length}):`);
  for (const p of plan.problems) lines.push(`  ! ${p.resourceId}: ${p.problem}`);
  return lines.join('\n');
}

export function formatRebuild(report: RebuildReport): string {
  const verb = report.dryRun ? 'would import' : 'imported';
  return [
    `${plural(report.manifests, 'manifest')}; ${plural(report.present, 'generation')} already in the catalog (kept); ${verb} ${report.imported.length}${report.dryRun ? ' (dry run: nothing written)' : ''}`,
    ...report.imported.map((id) => `  + ${id}`),
  ].join('\n');
}

export function formatCopy(report: PumpReport): string {
  const done = report.steps.filter((s) => s.outcome === 'done');
  const waiting = report.steps.filter((s) => s.outcome === 'wait');
  const lines = [
    `Copy queue: ${plural(report.steps.length, 'step')} in ${plural(report.rounds, 'round')}; ${plural(done.length, 'copy', 'copies')} final, ${plural(waiting.length, 'wait')}, ${plural(report.failed.length, 'failed step')}`,
  ];
  for (const s of done)
    if (s.state)
      lines.push(`  ${s.state === 'completed' ? '✓' : '✗'} ${s.generationId} → ${s.region}: ${s.state}`);
  const reasons = new Map<string, number>();
  for (const s of waiting) if (s.outcome === 'wait') reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
  for (const [reason, n] of reasons) lines.push(`  … ${n} waiting: ${reason}`);
  for (const f of report.failed) lines.push(`  ✗ message ${f.id}: ${f.error}`);
  return lines.join('\n');
}
