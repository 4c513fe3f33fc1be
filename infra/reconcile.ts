import { Aws, Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { Config } from '#core/config/config.ts';
import { SnapkeeperFunction } from './functions.ts';
import {
  CATALOG_READ,
  CATALOG_WRITE,
  catalogArns,
  ec2Arns,
  ec2ArnsAsNagSeesThem,
  MANAGED_RESOURCE_TAG,
} from './permissions.ts';
import { deadLetterTarget } from './schedule-dead-letters.ts';

export interface ReconcileProps {
  readonly config: Config;
  readonly table: ITable;
  /** The copy Regions of the config: generations may have snapshots to prune there too. */
  readonly copyRegions: readonly string[];
  /** How often reconcile runs. Default: every 15 minutes. */
  readonly every?: Duration;
  /** Where a pass Scheduler could not deliver goes (`scheduleDeadLetterQueue`). */
  readonly deadLetterQueue: IQueue;
}

/** How often reconcile runs unless told otherwise: also how often the RPO and stuck-generation figures come. */
export const RECONCILE_EVERY = Duration.minutes(15);

/**
 * The reconcile Lambda and its schedule: advances pending generations, applies retention and prunes behind the
 * interlocks. It is the only function with delete permissions, and those only for snapshots and images that
 * carry `snapkeeper:managed=true` (the catalog check is in the code; IAM makes the tag check unavoidable).
 */
export class Reconcile extends Construct {
  readonly function: SnapkeeperFunction;
  readonly schedule: CfnSchedule;
  /** How often a pass runs. */
  readonly every: Duration;

  constructor(scope: Construct, id: string, props: ReconcileProps) {
    super(scope, id);
    this.function = new SnapkeeperFunction(this, 'Function', {
      handler: 'reconcile',
      description: 'snapkeeper: advance pending generations, apply retention, prune',
      config: props.config,
      memorySize: 512,
      // A pass prunes at most 200 generations, far inside this.
      timeout: Duration.minutes(10),
    });
    const principal = this.function.role;
    // Reading states and ownership tags; Describe* cannot be resource-scoped.
    principal.addToPolicy(
      new PolicyStatement({
        actions: [
          'ec2:DescribeSnapshots',
          'ec2:DescribeImages',
          'ec2:DescribeInstances',
          'ec2:DescribeVolumes',
        ],
        resources: ['*'],
      }),
    );
    const regions = [ec2Arns(), ...props.copyRegions.map((region) => ec2Arns(region))];
    const snapshots = regions.map((arns) => arns.snapshot);
    const images = regions.map((arns) => arns.image);
    // No wildcard deletes: only what carries the managed tag, in the Regions the config names.
    principal.addToPolicy(
      new PolicyStatement({
        actions: ['ec2:DeleteSnapshot'],
        resources: snapshots,
        conditions: MANAGED_RESOURCE_TAG,
      }),
    );
    principal.addToPolicy(
      new PolicyStatement({
        actions: ['ec2:DeregisterImage'],
        resources: images,
        conditions: MANAGED_RESOURCE_TAG,
      }),
    );
    // The catalog: read, and write generations in place. A generation's outcome is one TransactWriteItems that
    // updates the record and puts its pointers, and IAM authorizes each item of a transaction as its own
    // action: the Puts need dynamodb:PutItem. No DeleteItem: records are history.
    principal.addToPolicy(
      new PolicyStatement({
        actions: [...CATALOG_READ, ...CATALOG_WRITE],
        resources: catalogArns(props.table),
      }),
    );

    const role = new Role(this, 'ScheduleRole', {
      description: 'Assumed by EventBridge Scheduler to start snapkeeper reconcile passes',
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [this.function.function.functionArn],
      }),
    );
    this.every = props.every ?? RECONCILE_EVERY;
    const minutes = this.every.toMinutes();
    this.schedule = new CfnSchedule(this, 'Schedule', {
      description: 'snapkeeper: reconcile pass',
      scheduleExpression: `rate(${minutes} minutes)`,
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      // Passes are idempotent and the next one is minutes away: two retries inside a short age bound, then the
      // dead-letter queue, whose alarm says passes are not being delivered at all.
      target: {
        arn: this.function.function.functionArn,
        roleArn: role.roleArn,
        input: '{}',
        retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 300 },
        deadLetterConfig: deadLetterTarget(props.deadLetterQueue, role),
      },
    });
    this.schedule.node.addDependency(role);

    const nagArns = [
      ec2ArnsAsNagSeesThem(),
      ...props.copyRegions.map((r) => ec2ArnsAsNagSeesThem(r)),
    ].flatMap((arns) => [arns.snapshot, arns.image]);
    NagSuppressions.addResourceSuppressions(
      principal,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'EC2 Describe* actions do not support resource-level permissions; `*` is the only resource IAM accepts.',
          appliesTo: ['Resource::*'],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Which snapshots and AMIs expire is decided by the catalog at run time, so they cannot be named; every delete is conditioned on ec2:ResourceTag/snapkeeper:managed=true, and the code deletes only what the catalog records and EC2 shows tagged with the same generation.',
          appliesTo: nagArns.map((arn) => `Resource::${arn}`),
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(this.function.function, [
      {
        id: 'AwsSolutions-L1',
        reason: 'Pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on that runtime.',
      },
    ]);
  }
}
