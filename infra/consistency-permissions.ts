import { Aws } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { LINUX_FREEZE_DOCUMENT, WINDOWS_VSS_DOCUMENT } from '#adapters/ssm.ts';
import type { Config } from '#core/config/config.ts';
import { TAG } from '#core/model/tags.ts';
import { ec2Arns } from './permissions.ts';

/** The SSM documents the config's policies freeze with: ours and AWS's VSS one, plus each `script` document. */
export function freezeDocumentArns(config: Config): string[] {
  const account = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:document/`;
  const arns = new Set<string>();
  for (const { consistency } of config.policies) {
    if (consistency.mode === 'filesystem') {
      arns.add(`${account}${LINUX_FREEZE_DOCUMENT}`);
      // AWS-owned documents have no account in their ARN.
      arns.add(`arn:${Aws.PARTITION}:ssm:${Aws.REGION}::document/${WINDOWS_VSS_DOCUMENT}`);
    }
    if (consistency.mode === 'script' && consistency.document) {
      arns.add(
        consistency.document.startsWith('arn:') ? consistency.document : `${account}${consistency.document}`,
      );
    }
  }
  return [...arns].sort();
}

export const usesAmis = (config: Config) =>
  config.policies.some((policy) => policy.schedules.some((schedule) => schedule.ami));

/**
 * What freezes and AMIs add to a scheduled run, only when the config uses them: SSM Run Command with the
 * freeze documents, on instances that carry a `snapkeeper:policy` tag; and `CreateImage` of any instance into
 * an image and snapshots born tagged `snapkeeper:managed=true`. No delete or deregister.
 */
export function grantConsistency(grantee: IGrantable, config: Config): void {
  const principal = grantee.grantPrincipal;
  const arns = ec2Arns();
  const documents = freezeDocumentArns(config);
  if (documents.length > 0) {
    principal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['ssm:SendCommand'], resources: documents }),
    );
    // Only instances opted in by tag can be sent a command, so the role cannot run a freeze anywhere else.
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ssm:SendCommand'],
        resources: [arns.instance],
        conditions: { StringLike: { [`ssm:resourceTag/${TAG.policy}`]: '*' } },
      }),
    );
    // Neither action supports resource-level permissions.
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ssm:GetCommandInvocation', 'ssm:DescribeInstanceInformation'],
        resources: ['*'],
      }),
    );
  }
  if (!usesAmis(config)) return;
  const image = `arn:${Aws.PARTITION}:ec2:${Aws.REGION}::image/*`;
  principal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['ec2:CreateImage'], resources: [arns.instance] }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateImage'],
      resources: [image, arns.snapshot],
      conditions: { StringEquals: { [`aws:RequestTag/${TAG.managed}`]: 'true' } },
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [image, arns.snapshot],
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:EnableImageDeprecation'],
      resources: [image],
      conditions: { StringEquals: { [`aws:ResourceTag/${TAG.managed}`]: 'true' } },
    }),
  );
  // The AMI's snapshots are read back from the image; Describe* cannot be scoped to resources.
  principal.addToPrincipalPolicy(new PolicyStatement({ actions: ['ec2:DescribeImages'], resources: ['*'] }));
}

/** The one wildcard these statements add, suppressed on the role that holds it, with its reason. */
export function suppressConsistencyFindings(role: IConstruct, config: Config): void {
  if (!usesAmis(config)) return;
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'An AMI does not exist before CreateImage, so it cannot be named: image/* may only be created already tagged snapkeeper:managed=true (CreateTags only inside CreateImage), and deprecated only when it carries that tag.',
        appliesTo: ['Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*'],
      },
    ],
    true,
  );
}
