import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

/**
 * The topic the alarms notify when the user brings none: subscribe a mailbox or a pager to it.
 *
 * Encrypted with a KMS key of its own, not the AWS-managed `alias/aws/sns`: CloudWatch must use the key to publish
 * an alarm, and the managed key's policy cannot be changed to let it, so alarms on a topic under that key are
 * dropped. The key lets CloudWatch (for this account only) encrypt, nothing more, and rotates yearly. The topic
 * takes TLS publishes only and names CloudWatch alarms of this account as its one publisher.
 */
export function alarmTopic(scope: Construct, id: string): Topic {
  const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
  const fromThisAccount = { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } };
  const key = new Key(scope, `${id}Key`, {
    description: 'snapkeeper: encrypts the alarm topic; CloudWatch alarms of this account may use it',
    enableKeyRotation: true,
    // Only notifications in flight are encrypted with it; nothing to keep after the stack is gone.
    removalPolicy: RemovalPolicy.DESTROY,
    pendingWindow: Duration.days(7),
  });
  key.addToResourcePolicy(
    new PolicyStatement({
      principals: [cloudWatch],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: fromThisAccount,
    }),
  );
  const topic = new Topic(scope, id, {
    displayName: 'snapkeeper alarms',
    masterKey: key,
    enforceSSL: true,
  });
  // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: CloudWatch is named here.
  topic.addToResourcePolicy(
    new PolicyStatement({
      principals: [cloudWatch],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        ...fromThisAccount,
        ArnLike: {
          'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
        },
      },
    }),
  );
  return topic;
}
