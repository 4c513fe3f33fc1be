import { createHash } from 'node:crypto';
import { Aws, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { CfnSchedule, CfnScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Config } from '#core/config/config.ts';
import { SCHEDULER_MAX_EVENT_AGE_SECONDS } from '#core/config/occurrence.ts';
import { deadLetterTarget } from './schedule-dead-letters.ts';

/** The event a schedule delivers to the scheduled-run Lambda. */
export interface ScheduledRunInput {
  policy: string;
  schedule: string;
  /** Scheduler substitutes the time the schedule was due to fire (not when it was delivered). */
  scheduledAt: string;
}

/** Scheduler's context attribute for the intended fire time; retries and late deliveries keep the original. */
export const SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';

export interface PolicySchedulesProps {
  readonly config: Config;
  /** The scheduled-run function every schedule invokes. */
  readonly target: IFunction;
  /** Where a run Scheduler could not deliver goes (`scheduleDeadLetterQueue`). */
  readonly deadLetterQueue: IQueue;
}

/** Scheduler names are at most 64 characters of letters, digits, `-`, `_` and `.`. */
const MAX_NAME = 64;

/**
 * `policy.schedule`: readable in the console, and unique because `.` cannot occur in either name. The rare
 * pair too long for Scheduler keeps a readable prefix and a hash of the whole.
 */
export function scheduleName(policy: string, schedule: string): string {
  const full = `${policy}.${schedule}`;
  if (full.length <= MAX_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_NAME - hash.length - 1)}-${hash}`;
}

/**
 * One EventBridge Scheduler schedule per schedule of every policy, each invoking the scheduled-run Lambda with
 * `{ policy, schedule, scheduledAt }`. They share one role that can invoke that function and nothing else.
 */
export class PolicySchedules extends Construct {
  readonly role: Role;
  /** One group per stack, named after it, so two snapkeeper stacks in an account never clash. */
  readonly group: CfnScheduleGroup;
  readonly schedules: CfnSchedule[] = [];

  constructor(scope: Construct, id: string, props: PolicySchedulesProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      description: 'Assumed by EventBridge Scheduler to start snapkeeper runs',
      // Only Scheduler acting for this account may assume it (no confused deputy).
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    // Starting a run is all a schedule does: the exact function ARN, no versions or aliases, no other target.
    this.role.addToPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.target.functionArn] }),
    );

    this.group = new CfnScheduleGroup(this, 'Group', { name: Stack.of(this).stackName });
    const deadLetterConfig = deadLetterTarget(props.deadLetterQueue, this.role);

    for (const policy of props.config.policies) {
      const policyScope = new Construct(this, `Policy-${policy.name}`);
      for (const rule of policy.schedules) {
        const input: ScheduledRunInput = {
          policy: policy.name,
          schedule: rule.name,
          scheduledAt: SCHEDULED_TIME,
        };
        const schedule = new CfnSchedule(policyScope, `Schedule-${rule.name}`, {
          name: scheduleName(policy.name, rule.name),
          groupName: this.group.ref,
          description: `snapkeeper: policy ${policy.name}, schedule ${rule.name}`,
          scheduleExpression: rule.expression,
          scheduleExpressionTimezone: rule.timezone,
          // Backups are due at a point in time; a flexible window would blur the recovery point.
          flexibleTimeWindow: { mode: 'OFF' },
          state: 'ENABLED',
          target: {
            arn: props.target.functionArn,
            roleArn: this.role.roleArn,
            input: JSON.stringify(input),
            // Runs are idempotent per (policy, schedule, scheduledAt), so retrying a failed delivery is safe; an
            // hour bounds it so a stale run does not land on top of the next hourly one. The scheduled-run
            // handler refuses a time older than this plus the function's own retries (core/config/occurrence.ts).
            retryPolicy: {
              maximumRetryAttempts: 5,
              maximumEventAgeInSeconds: SCHEDULER_MAX_EVENT_AGE_SECONDS,
            },
            // A run that could not be delivered even so is a missed backup: kept, and alarmed on.
            deadLetterConfig,
          },
        });
        // A schedule without its role's policy would fail its first invocations.
        schedule.node.addDependency(this.role);
        this.schedules.push(schedule);
      }
    }
  }
}
