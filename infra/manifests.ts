import { Aws } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import type { Config } from '../functions/core/config.ts';

/**
 * Lets the functions that write generation manifests (the scheduled run and reconcile, through
 * `ManifestingCatalog`) put objects into the config's `manifests` bucket, and nothing else there.
 *
 * The bucket lives in the manifest (DR) Region and is referenced by name: this stack is deployed to the primary
 * Region and does not create it, so that losing the primary Region, or deleting this stack, cannot take the
 * manifests with it. Create it once in the DR Region (the README shows how; `snapkeeper init` does it in a
 * sandbox). Reading manifests is the DR path of the CLI, with the operator's own credentials, so no function
 * here is granted Get or List.
 */
export function grantManifestWrites(config: Config, roles: readonly IRole[]): void {
  if (!config.manifests) return;
  const objects = `arn:${Aws.PARTITION}:s3:::${config.manifests.bucket}/*`;
  for (const role of roles) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [objects],
        // Every put must ask for SSE-S3, as `S3ManifestStore` does: an unencrypted manifest cannot be written.
        conditions: { StringEquals: { 's3:x-amz-server-side-encryption': 'AES256' } },
      }),
    );
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Manifests are objects named by generation, volume, target and policy, written as generations finish, so they cannot be listed in advance: PutObject is allowed on the objects of the one manifest bucket of the config, and only with SSE-S3 encryption.',
          appliesTo: [`Resource::arn:<AWS::Partition>:s3:::${config.manifests.bucket}/*`],
        },
      ],
      true,
    );
  }
}
