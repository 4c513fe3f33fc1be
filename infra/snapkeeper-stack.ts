import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { stackMarkKeyParameter } from '#adapters/mark-key.ts';
import { SnapKeeper, type SnapKeeperProps } from './snapkeeper-construct.ts';

/** A stack's props and the construct's (`config` or `configFile`, `alarmTopic`, `logRetention`). */
export interface SnapkeeperStackProps extends StackProps, SnapKeeperProps {}

/** The deployable unit of the CDK app: one {@link SnapKeeper} in the configured Region. */
export class SnapkeeperStack extends Stack {
  readonly snapkeeper: SnapKeeper;

  constructor(scope: Construct, id: string, props: SnapkeeperStackProps) {
    super(scope, id, props);
    const { config, configFile, alarmTopic, logRetention } = props;
    this.snapkeeper = new SnapKeeper(this, 'SnapKeeper', { config, configFile, alarmTopic, logRetention });
    // What an operator needs to find: `aws lambda invoke --function-name <RestoreVolumeFunctionName>`.
    new CfnOutput(this, 'CatalogTableName', { value: this.snapkeeper.table.tableName });
    new CfnOutput(this, 'ScheduledRunFunctionName', {
      value: this.snapkeeper.scheduledRunFunction.functionName,
    });
    new CfnOutput(this, 'ReconcileFunctionName', { value: this.snapkeeper.reconcileFunction.functionName });
    const { runbooks } = this.snapkeeper;
    new CfnOutput(this, 'RestoreVolumeFunctionName', {
      value: runbooks.restoreVolume.fn.function.functionName,
    });
    new CfnOutput(this, 'ReplaceVolumeFunctionName', {
      value: runbooks.replaceVolume.fn.function.functionName,
    });
    new CfnOutput(this, 'RestoreInstanceFunctionName', {
      value: runbooks.restoreInstance.fn.function.functionName,
    });
    // `aws ssm start-automation-execution --document-name <…DocumentName> --parameters …`.
    new CfnOutput(this, 'RestoreVolumeDocumentName', { value: runbooks.restoreVolume.document.ref });
    new CfnOutput(this, 'ReplaceVolumeDocumentName', { value: runbooks.replaceVolume.document.ref });
    new CfnOutput(this, 'RestoreInstanceDocumentName', { value: runbooks.restoreInstance.document.ref });
    // What a CLI working on this stack sets as SNAPKEEPER_MARK_KEY_PARAMETER to create or prune.
    new CfnOutput(this, 'MarkKeyParameter', {
      value: stackMarkKeyParameter(this.snapkeeper.config.catalog.table),
    });
    // Subscribe your on-call address to it: `aws sns subscribe --topic-arn <AlarmTopicArn> --protocol email ...`.
    new CfnOutput(this, 'AlarmTopicArn', { value: this.snapkeeper.alarms.topic.topicArn });
    // What Scheduler could not deliver waits here (the message says why).
    new CfnOutput(this, 'ScheduleDeadLetterQueueUrl', {
      value: this.snapkeeper.scheduleDeadLetters.queueUrl,
    });
    new CfnOutput(this, 'DashboardName', { value: this.snapkeeper.dashboard.dashboard.dashboardName });
    const { copies } = this.snapkeeper;
    if (copies) {
      // Where copies wait, and where failed ones land (`aws sqs start-message-move-task` redrives them).
      new CfnOutput(this, 'CopyQueueUrl', { value: copies.queue.queueUrl });
      new CfnOutput(this, 'CopyDeadLetterQueueUrl', { value: copies.deadLetterQueue.queueUrl });
      new CfnOutput(this, 'CopyWorkerFunctionName', { value: copies.worker.function.functionName });
    }
  }
}
