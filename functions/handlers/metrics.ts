import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AwsClients } from '#adapters/clients.ts';
import { isFailedTarget } from '#core/backup/results.ts';
import type { RunReport } from '#core/backup/run.ts';
import type { CopyBatchResult } from '#core/copies/step.ts';
import type { ReconcileReport } from '#core/lifecycle/reconcile.ts';

/** The CloudWatch namespace of every snapkeeper metric; the stack's alarms and dashboard read it. */
export const METRICS_NAMESPACE = 'snapkeeper';
/** Powertools adds a `service` dimension to every metric: this value (`POWERTOOLS_SERVICE_NAME`). */
export const METRICS_SERVICE = 'snapkeeper';

/** The metrics the handlers emit (and `snapkeeper drill` will emit), by what they mean. */
export const METRIC = {
  /** Per run, dimensions Job and Policy. */
  targets: 'Targets',
  snapshots: 'Snapshots',
  targetsFailed: 'TargetsFailed',
  freezesFailed: 'FreezesFailed',
  freezeWindow: 'FreezeWindow',
  /** Every job: attempts AWS throttled that the SDK retried (`ThrottleCounter`). */
  throttled: 'ThrottledCallsAbsorbed',
  /** Per reconcile pass, dimension Job; RpoSeconds and TargetsWithoutGeneration also Policy. */
  completed: 'GenerationsCompleted',
  failed: 'GenerationsFailed',
  pending: 'GenerationsPending',
  stuck: 'GenerationsStuck',
  pruned: 'GenerationsPruned',
  held: 'GenerationsHeld',
  /** Snapshots tagged with a generation that reconcile could not tie to it: held for a person to look at. */
  orphansHeld: 'OrphansHeld',
  rpo: 'RpoSeconds',
  withoutGeneration: 'TargetsWithoutGeneration',
  /** Per copy batch, dimensions Job and Region (CopyMessagesFailed: Job only). */
  copiesCompleted: 'CopiesCompleted',
  copiesFailed: 'CopiesFailed',
  copyLag: 'CopyLag',
  copyMessagesFailed: 'CopyMessagesFailed',
  /** Per drill (`snapkeeper drill`, when it lands), dimension Job = drill. */
  drillsFailed: 'DrillsFailed',
} as const;

/** Which handler emitted a metric: its `Job` dimension. */
export type Job = 'scheduled-run' | 'backup' | 'reconcile' | 'copy-worker' | 'drill';

type Unit = typeof MetricUnit.Count | typeof MetricUnit.Seconds | typeof MetricUnit.Milliseconds;

/** One metric of one invocation; several values make one data point per value (a distribution). */
export interface MetricDatum {
  name: (typeof METRIC)[keyof typeof METRIC];
  unit: Unit;
  values: number[];
  dimensions: { Job: Job; Policy?: string; Region?: string };
}

const count = (
  name: MetricDatum['name'],
  value: number,
  dimensions: MetricDatum['dimensions'],
): MetricDatum => ({
  name,
  unit: MetricUnit.Count,
  values: [value],
  dimensions,
});

/** A run's figures (scheduled or on demand), per policy: what the run Lambdas and the CLI's summary report. */
export function runMetrics(report: RunReport, throttled: number, job: Job): MetricDatum[] {
  const dimensions = { Job: job, Policy: report.policy };
  const made = report.results.filter((r) => r.outcome === 'created' || r.outcome === 'adopted');
  const windows = report.results.flatMap((r) => (r.freezeWindowMs === undefined ? [] : [r.freezeWindowMs]));
  return [
    count(METRIC.targets, report.results.length, dimensions),
    count(
      METRIC.snapshots,
      made.reduce((n, r) => n + r.snapshotIds.length, 0),
      dimensions,
    ),
    count(METRIC.targetsFailed, failedTargets(report).length, dimensions),
    count(METRIC.freezesFailed, report.results.filter((r) => r.freezeFailure).length, dimensions),
    ...(windows.length > 0
      ? [{ name: METRIC.freezeWindow, unit: MetricUnit.Milliseconds, values: windows, dimensions }]
      : []),
    count(METRIC.throttled, throttled, dimensions),
  ];
}

/** The targets that make a run fail: a failed backup, or a thaw that could not be confirmed. */
export function failedTargets(report: RunReport): RunReport['results'] {
  return report.results.filter((r) => isFailedTarget(r) || (r.thawProblems ?? []).length > 0);
}

/** A reconcile pass's figures, and each policy's recovery point (the RPO alarms' metric). */
export function reconcileMetrics(report: ReconcileReport, throttled: number): MetricDatum[] {
  const pass = { Job: 'reconcile' } as const;
  return [
    count(METRIC.completed, report.completed.length, pass),
    count(METRIC.failed, report.failed.length, pass),
    count(METRIC.pending, report.stillPending.length, pass),
    count(METRIC.stuck, report.stuck.length, pass),
    count(METRIC.pruned, report.pruned.length, pass),
    count(METRIC.held, report.held.length, pass),
    count(METRIC.orphansHeld, report.orphans.held.length, pass),
    count(METRIC.throttled, throttled, pass),
    ...report.rpo.flatMap((policy) => {
      const dimensions = { ...pass, Policy: policy.policy };
      return [
        ...(policy.rpoSeconds === undefined
          ? []
          : [{ name: METRIC.rpo, unit: MetricUnit.Seconds, values: [policy.rpoSeconds], dimensions }]),
        count(METRIC.withoutGeneration, policy.withoutGeneration, dimensions),
      ];
    }),
  ];
}

/** A copy batch's figures per destination Region: copies finished, failed, and their lag. */
export function copyMetrics(result: CopyBatchResult, throttled: number): MetricDatum[] {
  const job = { Job: 'copy-worker' } as const;
  const byRegion = new Map<string, { completed: number; failed: number; lags: number[] }>();
  for (const step of result.steps) {
    if (step.outcome !== 'done' || step.state === undefined) continue;
    const region = byRegion.get(step.region) ?? { completed: 0, failed: 0, lags: [] };
    if (step.state === 'completed' && step.lagSeconds !== undefined) {
      region.completed++;
      region.lags.push(step.lagSeconds);
    } else if (step.state === 'failed') region.failed++;
    byRegion.set(step.region, region);
  }
  return [
    count(METRIC.copyMessagesFailed, result.failed.length, job),
    count(METRIC.throttled, throttled, job),
    ...[...byRegion].flatMap(([Region, figures]) => {
      const dimensions = { ...job, Region };
      return [
        count(METRIC.copiesCompleted, figures.completed, dimensions),
        count(METRIC.copiesFailed, figures.failed, dimensions),
        ...(figures.lags.length > 0
          ? [{ name: METRIC.copyLag, unit: MetricUnit.Seconds, values: figures.lags, dimensions }]
          : []),
      ];
    }),
  ];
}

/** Where a handler's metrics go: CloudWatch through the embedded metric format in a Lambda, a list in tests. */
export interface MetricsSink {
  publish(data: readonly MetricDatum[]): void;
}

/**
 * Embedded metric format on stdout, which CloudWatch Logs turns into metrics: one Powertools document per set of
 * dimensions, since a document's dimensions apply to all its metrics.
 */
export const emfSink: MetricsSink = {
  publish(data) {
    const groups = new Map<string, MetricDatum[]>();
    for (const datum of data) {
      const key = JSON.stringify(datum.dimensions);
      groups.set(key, [...(groups.get(key) ?? []), datum]);
    }
    for (const [key, group] of groups) {
      const metrics = new Metrics({
        namespace: METRICS_NAMESPACE,
        serviceName: METRICS_SERVICE,
        defaultDimensions: JSON.parse(key),
      });
      for (const datum of group)
        for (const value of datum.values) metrics.addMetric(datum.name, datum.unit, value);
      metrics.publishStoredMetrics();
    }
  },
};

/** What a handler measures with besides its report: the clients its deps use (their throttles) and the sink. */
export interface Telemetry {
  clients: AwsClients;
  sink: MetricsSink;
}

/** Runs `work`, then publishes what `measure` makes of its result and the throttles absorbed meanwhile. */
export async function measured<R>(
  telemetry: Telemetry,
  work: () => Promise<R>,
  measure: (result: R, throttled: number) => MetricDatum[],
): Promise<R> {
  const before = telemetry.clients.throttles.absorbed;
  const result = await work();
  telemetry.sink.publish(measure(result, telemetry.clients.throttles.absorbed - before));
  return result;
}
