import { Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { CfnLogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { Config, ConfigInput } from '#core/config/config.ts';
import { RUN_MAX_EVENT_AGE_SECONDS } from '#core/config/occurrence.ts';
import { Alarms } from './alarms.ts';
import { createCatalogTable } from './catalog-table.ts';
import { grantConsistency, suppressConsistencyFindings } from './consistency-permissions.ts';
import { constructConfig } from './construct-config.ts';
import { Copies } from './copies.ts';
import { SnapkeeperDashboard } from './dashboard.ts';
import { FreezeDocuments } from './freeze-documents.ts';
import { SnapkeeperFunction } from './functions.ts';
import { grantManifestWrites } from './manifests.ts';
import { MarkKey } from './mark-key.ts';
import { ec2ArnsAsNagSeesThem, grantScheduledRun } from './permissions.ts';
import { Reconcile } from './reconcile.ts';
import { addRunbooks, type Runbooks } from './runbooks.ts';
import { scheduleDeadLetterQueue } from './schedule-dead-letters.ts';
import { PolicySchedules } from './schedules.ts';

export interface SnapKeeperProps {
  /**
   * The snapkeeper configuration as an object, the same document the CLI reads from `snapkeeper.config.json`,
   * validated at synth (an error names the key and the fix). It names the catalog table, defines one schedule
   * per policy schedule, and is handed to every Lambda as `SNAPKEEPER_CONFIG`, so it must fit in Lambda's 4 KB
   * environment. Its `region` must be the stack's. Give this or `configFile`, not both.
   * @default none: `configFile` is read instead
   */
  readonly config?: ConfigInput;
  /**
   * The path of the configuration file (`.json`, `.yaml` or `.yml`), read and validated at synth with the CLI's
   * loader, so `snapkeeper validate --config <file>` and `cdk synth` accept and refuse the same files. A relative
   * path is from the directory `cdk` runs the app in (the one holding `cdk.json`). Give this or `config`.
   * @default none: `config` is used instead
   */
  readonly configFile?: string;
  /**
   * Where every alarm notifies, when it fires and when it clears: your on-call topic.
   * @default a topic the stack creates (`AlarmTopicArn` output), encrypted with a KMS key of its own
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long every snapkeeper Lambda's log group keeps its logs. The groups are retained when the stack is
   * deleted (they are the record of what each run did) and expire by this retention alone.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
}

/**
 * snapkeeper in one construct: the DynamoDB catalog, the scheduled-run, reconcile and restore-volume Lambdas, one
 * EventBridge Scheduler schedule per policy schedule and, when a policy copies to DR Regions, the copy queue and
 * its worker; with IAM scoped by the `snapkeeper:managed` tag.
 */
export class SnapKeeper extends Construct {
  /** The validated configuration the stack was built from, defaults applied. */
  readonly config: Config;
  /** The catalog of generations; retained when the stack is deleted. */
  readonly table: Table;
  /** Takes one run of one policy schedule; invoked by the schedules. */
  readonly scheduledRunFunction: NodejsFunction;
  /** Takes an on-demand backup of one policy; invoked directly (`aws lambda invoke`). */
  readonly backupFunction: NodejsFunction;
  /** The restore-volume runbook; invoked directly (`aws lambda invoke`). */
  readonly restoreVolumeFunction: NodejsFunction;
  /** The restore runbooks (restore-volume, replace-volume): each a Lambda and an SSM Automation document. */
  readonly runbooks: Runbooks;
  /** Advances pending generations, applies retention and prunes; on its own schedule. */
  readonly reconcileFunction: NodejsFunction;
  /** The copy queue, its dead-letter queue, alarm and worker; only when a policy has `copies`. */
  readonly copies?: Copies;
  /** The secret that keys every snapshot's `snapkeeper:mark`; retained when the stack is deleted. */
  readonly markKey: MarkKey;
  /** Where Scheduler puts a run or reconcile pass it could not deliver; alarmed. */
  readonly scheduleDeadLetters: Queue;
  /** Every alarm of the stack and the topic they notify (docs/alarms.md). */
  readonly alarms: Alarms;
  /** The CloudWatch dashboard: runs, consistency, copies, retention, restores. */
  readonly dashboard: SnapkeeperDashboard;

  constructor(scope: Construct, id: string, props: SnapKeeperProps) {
    super(scope, id);
    const config = constructConfig(this, props);
    this.config = config;
    const copyRegions = drRegions(config);
    this.table = createCatalogTable(this, config.catalog.table);
    if (copyRegions.length > 0) {
      this.copies = new Copies(this, 'Copies', { config, table: this.table, copyRegions });
    }

    const scheduledRun = runFunction(this, 'ScheduledRun', config, this.table, {
      handler: 'scheduled-run',
      description: 'snapkeeper: one scheduled run of one policy schedule',
      // Scheduler invokes it asynchronously; the handler refuses a delivery older than all retries together.
      maxEventAge: Duration.seconds(RUN_MAX_EVENT_AGE_SECONDS),
    });
    // On-demand backups take the run's one take path, so the backup Lambda needs exactly the run's permissions.
    const backup = runFunction(this, 'Backup', config, this.table, {
      handler: 'backup',
      description: 'snapkeeper: an on-demand backup of one policy (snapkeeper backup)',
    });
    if (config.policies.some((policy) => policy.consistency.mode === 'filesystem')) {
      new FreezeDocuments(this, 'FreezeDocuments');
    }
    this.scheduledRunFunction = scheduledRun.function;
    this.backupFunction = backup.function;

    this.runbooks = addRunbooks(this, { config, table: this.table, copyRegions });
    this.restoreVolumeFunction = this.runbooks.restoreVolume.fn.function;

    const scheduleDeadLetters = scheduleDeadLetterQueue(this, 'ScheduleDeadLetterQueue');
    this.scheduleDeadLetters = scheduleDeadLetters;
    new PolicySchedules(this, 'Schedules', {
      config,
      target: this.scheduledRunFunction,
      deadLetterQueue: scheduleDeadLetters,
    });

    const reconcile = new Reconcile(this, 'Reconcile', {
      config,
      table: this.table,
      copyRegions,
      deadLetterQueue: scheduleDeadLetters,
    });
    this.reconcileFunction = reconcile.function.function;
    // Runs queue the copies of the generations they complete; reconcile queues those still owed one.
    this.copies?.grantEnqueue(scheduledRun);
    this.copies?.grantEnqueue(backup);
    this.copies?.grantEnqueue(reconcile.function);
    // The worker records copies through the same manifest-writing catalog, so a DR restore finds them.
    grantManifestWrites(config, [
      scheduledRun.role,
      backup.role,
      reconcile.function.role,
      ...(this.copies ? [this.copies.worker.role] : []),
    ]);
    // Exactly the Lambdas that create (runs, copies) or delete (reconcile's prune) read the mark key.
    this.markKey = new MarkKey(this, 'MarkKey', { config });
    for (const fn of [
      scheduledRun,
      backup,
      reconcile.function,
      ...(this.copies ? [this.copies.worker] : []),
    ]) {
      this.markKey.grantRead(fn);
    }

    this.alarms = new Alarms(this, 'Alarms', {
      config,
      alarmTopic: props.alarmTopic,
      scheduledRun: scheduledRun.function,
      backup: backup.function,
      reconcile: reconcile.function.function,
      reconcileEvery: reconcile.every,
      scheduleDeadLetters,
      others: this.copies ? [this.copies.deadLetterAlarm] : [],
    });
    this.dashboard = new SnapkeeperDashboard(this, 'Dashboard', {
      config,
      scheduledRun: scheduledRun.function,
      backup: backup.function,
      reconcile: reconcile.function.function,
      restoreVolume: this.restoreVolumeFunction,
      ...(this.copies ? { copies: this.copies } : {}),
      copyRegions,
      alarms: this.alarms.alarms,
      rpoThresholds: this.alarms.rpoThresholds,
    });

    suppressRunFindings([scheduledRun, backup]);
    if (props.logRetention !== undefined) setLogRetention(this, props.logRetention);
  }
}

/** Every snapkeeper Lambda's log group, wherever in the tree its function was made, keeps logs this long. */
function setLogRetention(scope: Construct, retention: RetentionDays): void {
  for (const child of scope.node.findAll()) {
    if (child instanceof SnapkeeperFunction) {
      (child.logGroup.node.defaultChild as CfnLogGroup).retentionInDays = retention;
    }
  }
}

/**
 * A Lambda that takes runs (scheduled or on demand): the run's permissions and those of the policies'
 * consistency modes. A run of a large fleet is long; 15 minutes is Lambda's ceiling.
 */
function runFunction(
  scope: Construct,
  id: string,
  config: Config,
  table: Table,
  props: { handler: string; description: string; maxEventAge?: Duration },
): SnapkeeperFunction {
  const fn = new SnapkeeperFunction(scope, id, {
    ...props,
    config,
    memorySize: 1024,
    timeout: Duration.minutes(15),
  });
  grantScheduledRun(fn.role, table);
  grantConsistency(fn.role, config);
  suppressConsistencyFindings(fn.role, config);
  return fn;
}

/**
 * Each suppression sits on the one role or function it is about and names the exact wildcard it allows, so a
 * new wildcard anywhere else still fails the checks.
 */
function suppressRunFindings(runs: readonly SnapkeeperFunction[]): void {
  const primary = ec2ArnsAsNagSeesThem();
  for (const run of runs) {
    NagSuppressions.addResourceSuppressions(
      run.role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'EC2 Describe* actions (instances, volumes, snapshots) do not support resource-level permissions; `*` is the only resource IAM accepts for them.',
          appliesTo: ['Resource::*'],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "A run may snapshot any volume or instance of this account and Region: which ones is decided by tags at run time, and an instance's volumes need not carry the policy tag. A snapshot/* may only be created already tagged snapkeeper:managed=true, and CreateTags is allowed only inside CreateSnapshot(s).",
          appliesTo: [primary.volume, primary.instance, primary.snapshot].map((arn) => `Resource::${arn}`),
        },
      ],
      true,
    );
    NagSuppressions.addResourceSuppressions(run.function, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on that runtime; moving to a newer runtime is a deliberate upgrade, not an automatic one.',
      },
    ]);
  }
}

/** The copy Regions of every policy, where generations have copies to restore from. */
function drRegions(config: Config): string[] {
  return [...new Set(config.policies.flatMap((policy) => policy.copies.map((copy) => copy.region)))].sort();
}
