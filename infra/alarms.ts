import { Annotations, Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Config, Policy } from '#core/config/config.ts';
import { longestGapSeconds } from '#core/config/interval.ts';
import { type Job, METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '#handlers/metrics.ts';
import { alarmTopic } from './alarm-topic.ts';

/** A snapkeeper metric as the handlers publish it: namespace, name, and the dimensions of its document. */
export function snapkeeperMetric(
  name: (typeof METRIC)[keyof typeof METRIC],
  dimensions: { Job: Job; Policy?: string; Region?: string },
  props: { statistic: string; period: Duration; label?: string },
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
    ...props,
  });
}

/**
 * How far past a policy's longest gap its RPO may run before the alarm fires: a run takes up to 15 minutes
 * (Lambda's ceiling) and its generation is completed by the next reconcile pass.
 */
export function rpoGrace(reconcileEvery: Duration): Duration {
  return Duration.minutes(15 + reconcileEvery.toMinutes());
}

/**
 * The RPO a policy promises, in seconds: the shortest of its schedules' longest gaps (its newest completed
 * generation is never older than that when every run works). Undefined when no schedule's gap can be computed.
 */
export function policyRpoSeconds(policy: Policy): number | undefined {
  const gaps = policy.schedules.flatMap((rule) => {
    const gap = longestGapSeconds(rule);
    return gap === undefined ? [] : [gap];
  });
  return gaps.length > 0 ? Math.min(...gaps) : undefined;
}

export interface AlarmsProps {
  readonly config: Config;
  /**
   * Where the alarms notify (and notify again when they clear).
   * @default a topic the stack creates, encrypted with a KMS key of its own (`alarm-topic.ts`)
   */
  readonly alarmTopic?: ITopic;
  readonly scheduledRun: IFunction;
  readonly backup: IFunction;
  readonly reconcile: IFunction;
  /** How often reconcile passes run: the period of the figures they publish. */
  readonly reconcileEvery: Duration;
  /** The schedules' dead-letter queue. */
  readonly scheduleDeadLetters: IQueue;
  /** Alarms made elsewhere (the copy dead-letter queue's) that notify the same topic. */
  readonly others?: readonly Alarm[];
}

/**
 * Every alarm of the stack, each saying in its description what it means and what to do (docs/alarms.md says the
 * same at more length), all notifying one SNS topic. Missing data is healthy except where silence itself is the
 * fault (reconcile not running).
 */
export class Alarms extends Construct {
  readonly topic: ITopic;
  readonly alarms: Alarm[] = [];
  /** The RPO alarm's threshold (seconds) of each policy whose schedules' gaps can be computed, by policy name. */
  readonly rpoThresholds = new Map<string, number>();

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = props.alarmTopic ?? alarmTopic(this, 'Topic');
    const prefix = props.config.catalog.table;
    const every = props.reconcileEvery;
    const fiveMinutes = Duration.minutes(5);

    const errors = (fn: IFunction, name: string, description: string) =>
      this.add(name, {
        alarmDescription: description,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: Stats.SUM }),
        threshold: 0,
      });
    errors(
      props.scheduledRun,
      `${prefix}-scheduled-run-failed`,
      'snapkeeper: a scheduled run failed: a target was not backed up, a thaw was not confirmed, or the run could not start. Read the scheduled-run logs ("generation failed", "run finished"), fix the cause; the next run takes the targets again.',
    );
    errors(
      props.backup,
      `${prefix}-backup-failed`,
      'snapkeeper: an on-demand backup failed (a target was not backed up or a thaw was not confirmed). Read the backup Lambda logs and retry the request with the same requestId.',
    );
    errors(
      props.reconcile,
      `${prefix}-reconcile-needs-attention`,
      'snapkeeper: a reconcile pass failed, or found generations that failed or are stuck pending. Read the reconcile logs ("generation failed", "generation stuck") and `snapkeeper generations`.',
    );
    this.add(`${prefix}-reconcile-not-running`, {
      alarmDescription: `snapkeeper: no reconcile pass ran in ${every.toMinutes() * 4} minutes, so no generation completes, nothing is pruned and the RPO figures stop. Check the reconcile schedule, its dead-letter queue and the function's throttles.`,
      metric: props.reconcile.metricInvocations({
        period: Duration.minutes(every.toMinutes() * 4),
        statistic: Stats.SUM,
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.BREACHING,
    });
    this.add(`${prefix}-schedule-deliveries-failed`, {
      alarmDescription:
        'snapkeeper: EventBridge Scheduler could not invoke a run or a reconcile pass after its retries; the event waits in the schedules dead-letter queue. Read the message (its error says why), fix the target or its role, then run the missed run with `snapkeeper run --at`.',
      metric: props.scheduleDeadLetters.metricApproximateNumberOfMessagesVisible({
        period: fiveMinutes,
        statistic: Stats.MAXIMUM,
      }),
      threshold: 0,
    });
    this.add(`${prefix}-generations-stuck`, {
      alarmDescription: `snapkeeper: generations have been pending longer than reconcile.stuckAfterMinutes (${props.config.reconcile.stuckAfterMinutes} min). Find them with \`snapkeeper generations\`, and check their snapshots in EC2.`,
      metric: snapkeeperMetric(
        METRIC.stuck,
        { Job: 'reconcile' },
        { statistic: Stats.MAXIMUM, period: every },
      ),
      threshold: 0,
    });
    this.add(`${prefix}-drill-failed`, {
      alarmDescription:
        'snapkeeper: a restore drill failed: a backup could not be restored within its objective. Read the drill report (`snapkeeper drill` publishes DrillsFailed).',
      metric: snapkeeperMetric(
        METRIC.drillsFailed,
        { Job: 'drill' },
        { statistic: Stats.SUM, period: Duration.hours(1) },
      ),
      threshold: 0,
    });
    const grace = rpoGrace(every);
    for (const policy of props.config.policies) {
      const rpo = policyRpoSeconds(policy);
      if (rpo === undefined) {
        Annotations.of(this).addWarningV2(
          'snapkeeper:rpo-alarm',
          `policy ${policy.name}: no RPO alarm, its schedules use cron forms (L, W, #) whose gaps are not computed`,
        );
        continue;
      }
      const threshold = rpo + grace.toSeconds();
      this.rpoThresholds.set(policy.name, threshold);
      this.add(`${prefix}-rpo-${policy.name}`, {
        alarmDescription: `snapkeeper: a target of policy ${policy.name} has no completed backup newer than ${Math.round(threshold / 60)} minutes (the schedule's longest gap, ${Math.round(rpo / 60)} min, plus ${grace.toMinutes()} min for a run and a reconcile pass). Run \`snapkeeper report\` to find it, then check its runs' failures.`,
        metric: snapkeeperMetric(
          METRIC.rpo,
          { Job: 'reconcile', Policy: policy.name },
          { statistic: Stats.MAXIMUM, period: every },
        ),
        threshold,
      });
    }
    for (const other of props.others ?? []) this.notify(other);
  }

  /** A "greater than" alarm over one period (unless told otherwise) whose missing data is healthy. */
  private add(
    alarmName: string,
    props: Omit<ConstructorParameters<typeof Alarm>[2], 'evaluationPeriods'>,
  ): Alarm {
    const alarm = new Alarm(this, alarmName, {
      alarmName,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      ...props,
    });
    this.notify(alarm);
    return alarm;
  }

  private notify(alarm: Alarm): void {
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
