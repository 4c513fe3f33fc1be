import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Stats, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { Config } from '#core/config/config.ts';
import type { HandlerEnv } from '#handlers/env.ts';
import { grantCopyKeyUse, suppressCopyKeyFindings } from './copy-keys.ts';
import { SnapkeeperFunction } from './functions.ts';
import {
  CATALOG_READ,
  CATALOG_WRITE,
  catalogArns,
  ec2Arns,
  ec2ArnsAsNagSeesThem,
  MANAGED_REQUEST_TAG,
  MANAGED_RESOURCE_TAG,
} from './permissions.ts';

/** The variable that tells a function where to send copy work (`{ generationId, region }` messages). */
export const COPY_QUEUE_URL_VARIABLE = 'SNAPKEEPER_COPY_QUEUE_URL' satisfies keyof HandlerEnv;

/** A batch starts and records up to 10 copies, with EC2 throttling retries; minutes, not seconds. */
const WORKER_TIMEOUT = Duration.minutes(5);
/** Lambda's advice for SQS sources: a visibility timeout of 6× the function's, so retries never overlap a run. */
const VISIBILITY_TIMEOUT = Duration.seconds(WORKER_TIMEOUT.toSeconds() * 6);
/** The copy quota, not Lambda, is the bottleneck: two concurrent workers (SQS's minimum) keep it full. */
const WORKER_CONCURRENCY = 2;
/** A message that fails this often is a bug or a lasting refusal, not a wait: it goes to the dead-letter queue. */
const MAX_RECEIVES = 5;

export interface CopiesProps {
  /** The configuration: `copyQueue` names the queue; the policies' `copies` name Regions and keys. */
  readonly config: Config;
  /** The catalog, where the worker updates generations' copy records and the per-Region copy slots. */
  readonly table: ITable;
  /** The copy Regions of the config (at least one). */
  readonly copyRegions: readonly string[];
}

/**
 * Cross-Region DR copies: the durable queue copies wait in (`copyQueue.name`, with its `-dlq`), the copy-worker
 * Lambda that consumes it while keeping each destination Region under its in-flight limit, and an alarm when
 * work lands in the dead-letter queue. Created only when a policy has copies.
 */
export class Copies extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly worker: SnapkeeperFunction;
  /** In alarm while any copy message sits in the dead-letter queue; notifies the stack's alarm topic. */
  readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: CopiesProps) {
    super(scope, id);
    const { name } = props.config.copyQueue;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: `${name}-dlq`,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // SQS's longest: time for a person to find the cause and redrive.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: name,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: VISIBILITY_TIMEOUT,
      retentionPeriod: Duration.days(14),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVES },
    });

    this.worker = new SnapkeeperFunction(this, 'Worker', {
      handler: 'copy-worker',
      description: 'snapkeeper: start and track cross-Region copies within each Region quota',
      config: props.config,
      memorySize: 512,
      timeout: WORKER_TIMEOUT,
    });
    // It waits for a free slot by sending its message back with a delay.
    this.grantEnqueue(this.worker);
    this.worker.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: WORKER_CONCURRENCY,
      }),
    );
    grantCopyWorker(this.worker.role, props);

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmName: `${name}-dlq-not-empty`,
      alarmDescription: `snapkeeper: copy work failed ${MAX_RECEIVES} times and waits in ${name}-dlq; read the copy-worker logs, fix the cause, then redrive the queue.`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // An empty, idle queue publishes no data points; that is the healthy state.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    suppressCopyWorkerFindings(this.worker, props);
  }

  /** Lets a function send copy work: `sqs:SendMessage` on the queue, and its URL as `SNAPKEEPER_COPY_QUEUE_URL`. */
  grantEnqueue(fn: SnapkeeperFunction): void {
    fn.addEnvironment(COPY_QUEUE_URL_VARIABLE, this.queue.queueUrl);
    // SendMessageBatch is authorized by sqs:SendMessage; the URL is given, so no GetQueueUrl.
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
  }
}

/**
 * What the worker may do: copy our snapshots and AMIs (tagged `snapkeeper:managed=true`) out of the primary
 * Region into the copy Regions, the copies born tagged the same way; use the copy keys through EC2 only; and
 * update the catalog. No delete of any kind: pruning copies is reconcile's.
 */
function grantCopyWorker(grantee: IGrantable, props: CopiesProps): void {
  const principal = grantee.grantPrincipal;
  const source = ec2Arns();
  const destinations = props.copyRegions.map((region) => ec2Arns(region));
  const created = destinations.flatMap((arns) => [arns.snapshot, arns.image]);
  // Copy states, and finding the copies of a worker that died; Describe* cannot be scoped to resources.
  principal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['ec2:DescribeSnapshots', 'ec2:DescribeImages'], resources: ['*'] }),
  );
  // The source side, in the primary Region: only what we took can be copied out of the account's Region.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CopySnapshot', 'ec2:CopyImage'],
      resources: [source.snapshot, source.image],
      conditions: MANAGED_RESOURCE_TAG,
    }),
  );
  // The created side, in the copy Regions: a copy exists only already tagged as ours, so reconcile can prune it.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CopySnapshot', 'ec2:CopyImage'],
      resources: created,
      conditions: MANAGED_REQUEST_TAG,
    }),
  );
  // Tags only through the copy calls' TagSpecifications, never on an existing snapshot or image.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: created,
      conditions: { StringEquals: { 'ec2:CreateAction': ['CopySnapshot', 'CopyImage'] } },
    }),
  );
  // Generations' copy records and the per-Region slot items; nothing is deleted.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...CATALOG_READ, ...CATALOG_WRITE],
      resources: catalogArns(props.table),
    }),
  );
  grantCopyKeyUse(principal, props.config);
}

/** The wildcards the worker's role holds, each suppressed by its exact text with its reason. */
function suppressCopyWorkerFindings(worker: SnapkeeperFunction, props: CopiesProps): void {
  const source = ec2ArnsAsNagSeesThem();
  const destinations = props.copyRegions.map((region) => ec2ArnsAsNagSeesThem(region));
  const resource = (arn: string) => `Resource::${arn}`;
  NagSuppressions.addResourceSuppressions(
    worker.role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'EC2 DescribeSnapshots and DescribeImages do not support resource-level permissions; `*` is the only resource IAM accepts.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Which generations are copied is decided at run time, and a copy does not exist before it is made: in the primary Region only snapshots and AMIs already tagged snapkeeper:managed=true may be copied; in the copy Regions a snapshot or AMI may be created only tagged snapkeeper:managed=true, and CreateTags is allowed only inside CopySnapshot and CopyImage.',
        appliesTo: [source, ...destinations].flatMap((arns) => [arns.snapshot, arns.image]).map(resource),
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(worker.function, [
    {
      id: 'AwsSolutions-L1',
      reason: 'Pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on that runtime.',
    },
  ]);
  suppressCopyKeyFindings(worker.role, props.config);
}
