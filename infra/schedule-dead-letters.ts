import { Duration } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * Where EventBridge Scheduler puts an invocation it could not deliver after its retries (the function deleted, its
 * role unable to invoke it, Lambda refusing the event): every schedule of the stack, the policies' and reconcile's,
 * sends its failures here, and an alarm fires on the first message. SQS-managed encryption, which Scheduler writes
 * to without a key grant; TLS only; kept 14 days (SQS's longest) for a person to read what was lost.
 */
export function scheduleDeadLetterQueue(scope: Construct, id: string): Queue {
  const queue = new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  NagSuppressions.addResourceSuppressions(queue, [
    {
      id: 'AwsSolutions-SQS3',
      reason:
        "It is a dead-letter queue: the schedules' (Scheduler's deadLetterConfig, which cdk-nag does not see). Nothing consumes it; its alarm tells a person to read it.",
    },
  ]);
  return queue;
}

/**
 * The schedule target's `deadLetterConfig`, and the one permission it needs: the schedule's role may send to the
 * queue (Scheduler sends as the schedule's execution role).
 */
export function deadLetterTarget(queue: IQueue, role: IRole): { arn: string } {
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
  );
  return { arn: queue.queueArn };
}
