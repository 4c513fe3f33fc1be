import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Config } from '#core/config/config.ts';
import { type Job, METRIC } from '#handlers/metrics.ts';
import { snapkeeperMetric } from './alarms.ts';
import type { Copies } from './copies.ts';

export interface SnapkeeperDashboardProps {
  readonly config: Config;
  readonly scheduledRun: IFunction;
  readonly backup: IFunction;
  readonly reconcile: IFunction;
  readonly restoreVolume: IFunction;
  readonly copies?: Copies;
  /** The copy Regions of the config, one line each on the copy graphs. */
  readonly copyRegions: readonly string[];
  /** The alarms, each with an explicit `alarmName`. */
  readonly alarms: readonly Alarm[];
  /** The RPO alarm's threshold of each policy (seconds), drawn as the line its figure must stay under. */
  readonly rpoThresholds: ReadonlyMap<string, number>;
}

/** The rows of the dashboard, top to bottom: one per concern an operator asks about. */
export const DASHBOARD_ROWS = ['Runs', 'Consistency', 'Copies', 'Retention', 'Restores'] as const;

const PERIOD = Duration.minutes(15);

/** The name an alarm was given (`alarmName`), which every snapkeeper alarm sets. */
function alarmNameOf(alarm: Alarm): string {
  const name = (alarm.node.defaultChild as { alarmName?: string }).alarmName;
  if (!name) throw new Error(`snapkeeper: alarm ${alarm.node.path} has no alarmName`);
  return name;
}
const WIDTH = 6;

/**
 * One CloudWatch dashboard: the alarms' states on top, then a row per concern (runs, consistency, copies,
 * retention, restores), each opened by a title, built from the metrics the handlers publish and Lambda's own.
 */
export class SnapkeeperDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: SnapkeeperDashboardProps) {
    super(scope, id);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      // Dashboard names allow letters, digits, - and _ only; a table name may also have dots.
      dashboardName: `${props.config.catalog.table.replace(/[^A-Za-z0-9_-]/g, '-')}-snapkeeper`,
      defaultInterval: Duration.days(7),
    });
    const policies = props.config.policies.map((p) => p.name);
    const perPolicy = (name: (typeof METRIC)[keyof typeof METRIC], job: Job, statistic: string) =>
      policies.map((Policy) =>
        snapkeeperMetric(name, { Job: job, Policy }, { statistic, period: PERIOD, label: Policy }),
      );
    const pass = (name: (typeof METRIC)[keyof typeof METRIC], statistic: string = Stats.SUM) =>
      snapkeeperMetric(name, { Job: 'reconcile' }, { statistic, period: PERIOD, label: name });
    const perRegion = (name: (typeof METRIC)[keyof typeof METRIC], statistic: string) =>
      props.copyRegions.map((Region) =>
        snapkeeperMetric(name, { Job: 'copy-worker', Region }, { statistic, period: PERIOD, label: Region }),
      );
    const graph = (title: string, left: IMetric[], right: IMetric[] = []) =>
      new GraphWidget({ title, left, right, width: WIDTH, height: 6 });
    const lambda = (fn: IFunction, label: string) => [
      fn.metricInvocations({ period: PERIOD, statistic: Stats.SUM, label: `${label} invocations` }),
      fn.metricErrors({ period: PERIOD, statistic: Stats.SUM, label: `${label} errors` }),
    ];

    // The alarms by ARN built from their names, not by `Fn::GetAtt`: CloudFormation emulators that skip alarms
    // (moto's) would otherwise fail the whole deploy on the reference.
    const alarms = props.alarms.map((alarm, i) =>
      Alarm.fromAlarmArn(
        this,
        `Alarm${i}`,
        Stack.of(this).formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: alarmNameOf(alarm),
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'snapkeeper alarms', alarms, width: 24 }));
    const rows: Record<(typeof DASHBOARD_ROWS)[number], GraphWidget[]> = {
      Runs: [
        graph('Run invocations and errors', [
          ...lambda(props.scheduledRun, 'scheduled'),
          ...lambda(props.backup, 'on-demand'),
        ]),
        graph(
          'Targets and failed targets per policy',
          perPolicy(METRIC.targets, 'scheduled-run', Stats.SUM),
          perPolicy(METRIC.targetsFailed, 'scheduled-run', Stats.SUM),
        ),
        graph('Throttled calls absorbed', [
          ...perPolicy(METRIC.throttled, 'scheduled-run', Stats.SUM),
          snapkeeperMetric(
            METRIC.throttled,
            { Job: 'reconcile' },
            { statistic: Stats.SUM, period: PERIOD, label: 'reconcile' },
          ),
          snapkeeperMetric(
            METRIC.throttled,
            { Job: 'copy-worker' },
            { statistic: Stats.SUM, period: PERIOD, label: 'copy worker' },
          ),
        ]),
        new GraphWidget({
          title: 'RPO per policy (seconds)',
          left: perPolicy(METRIC.rpo, 'reconcile', Stats.MAXIMUM),
          leftAnnotations: [...props.rpoThresholds].map(([policy, value]) => ({
            value,
            label: `${policy} alarm`,
          })),
          width: WIDTH,
          height: 6,
        }),
      ],
      Consistency: [
        graph('Freeze window (ms, max)', perPolicy(METRIC.freezeWindow, 'scheduled-run', Stats.MAXIMUM)),
        graph(
          'Freezes failed (taken crash-consistent)',
          perPolicy(METRIC.freezesFailed, 'scheduled-run', Stats.SUM),
        ),
        graph('Snapshots taken per policy', perPolicy(METRIC.snapshots, 'scheduled-run', Stats.SUM)),
        graph('Generations completed, failed, stuck', [
          pass(METRIC.completed),
          pass(METRIC.failed),
          pass(METRIC.stuck, Stats.MAXIMUM),
        ]),
      ],
      Copies: [
        graph('Copy lag (seconds, max)', perRegion(METRIC.copyLag, Stats.MAXIMUM)),
        graph(
          'Copies completed and failed',
          perRegion(METRIC.copiesCompleted, Stats.SUM),
          perRegion(METRIC.copiesFailed, Stats.SUM),
        ),
        graph(
          'Copy queue and dead letters',
          props.copies
            ? [
                props.copies.queue.metricApproximateNumberOfMessagesVisible({
                  period: PERIOD,
                  statistic: Stats.MAXIMUM,
                  label: 'waiting',
                }),
                props.copies.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                  period: PERIOD,
                  statistic: Stats.MAXIMUM,
                  label: 'dead letters',
                }),
              ]
            : [],
        ),
        graph('Copy worker', props.copies ? lambda(props.copies.worker.function, 'worker') : []),
      ],
      Retention: [
        graph('Generations pruned and held', [
          pass(METRIC.pruned),
          pass(METRIC.held),
          pass(METRIC.orphansHeld),
        ]),
        graph('Generations pending', [pass(METRIC.pending, Stats.MAXIMUM)]),
        graph(
          'Targets without a generation',
          perPolicy(METRIC.withoutGeneration, 'reconcile', Stats.MAXIMUM),
        ),
        graph('Reconcile invocations and errors', lambda(props.reconcile, 'reconcile')),
      ],
      Restores: [
        graph('Restore-volume invocations and errors', lambda(props.restoreVolume, 'restore-volume')),
        graph('Restore-volume duration (max)', [
          props.restoreVolume.metricDuration({ period: PERIOD, statistic: Stats.MAXIMUM }),
        ]),
        graph('Drills failed', [
          snapkeeperMetric(
            METRIC.drillsFailed,
            { Job: 'drill' },
            { statistic: Stats.SUM, period: PERIOD, label: 'drills failed' },
          ),
        ]),
      ],
    };
    for (const title of DASHBOARD_ROWS) {
      this.dashboard.addWidgets(new TextWidget({ markdown: `## ${title}`, width: 24, height: 1 }));
      this.dashboard.addWidgets(...rows[title]);
    }
  }
}
