import { Aws } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { MANIFEST_PREFIXES } from '#adapters/manifests.ts';
import type { Config } from '#core/config/config.ts';

/**
 * The objects of the manifest layout (`S3ManifestStore`): its four key prefixes, so a writer cannot put
 * anything else into the bucket. The default partition is written as cdk-nag spells it in a finding.
 */
function manifestObjects(bucket: string, partition = '<AWS::Partition>'): string[] {
  return Object.values(MANIFEST_PREFIXES).map((prefix) => `arn:${partition}:s3:::${bucket}/${prefix}*`);
}

/**
 * Lets the functions that write generation manifests (the scheduled run and reconcile, through
 * `ManifestingCatalog`) and the copy worker put objects under the manifest layout's prefixes of the config's
 * `manifests` bucket, and nothing else there.
 *
 * The bucket lives in the manifest (DR) Region and is referenced by name: this stack is deployed to the primary
 * Region and does not create it, so that losing the primary Region, or deleting this stack, cannot take the
 * manifests with it. Create it once in the DR Region (the README shows how; `snapkeeper init` does it in a
 * sandbox). Reading is `grantManifestReads`: the restore-volume runbook reads them when asked to
 * (`fromManifests`), and the CLI does with the operator's own credentials.
 */
export function grantManifestWrites(config: Config, roles: readonly IRole[]): void {
  if (!config.manifests) return;
  const objects = manifestObjects(config.manifests.bucket, Aws.PARTITION);
  for (const role of roles) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: objects,
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
            'Manifests are objects named by generation, volume, target and policy, written as generations finish, so they cannot be listed in advance: PutObject is allowed under the four key prefixes of the manifest layout in the one manifest bucket of the config, and only with SSE-S3 encryption.',
          appliesTo: manifestObjects(config.manifests.bucket).map((arn) => `Resource::${arn}`),
        },
      ],
      true,
    );
  }
}

/**
 * Lets the restore-volume runbook read manifests (`fromManifests: true`, the catalog unreachable): GetObject on
 * the bucket's objects and ListBucket on the bucket, which the newest-first pointer listings need.
 */
export function grantManifestReads(config: Config, roles: readonly IRole[]): void {
  if (!config.manifests) return;
  const bucket = `arn:${Aws.PARTITION}:s3:::${config.manifests.bucket}`;
  for (const role of roles) {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: manifestObjects(config.manifests.bucket, Aws.PARTITION),
      }),
    );
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket] }));
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'A restore from manifests reads the manifest and pointer objects of whichever generation it restores, so they cannot be named in advance: GetObject is allowed under the key prefixes of the manifest layout in the one manifest bucket of the config, nothing else.',
          appliesTo: manifestObjects(config.manifests.bucket).map((arn) => `Resource::${arn}`),
        },
      ],
      true,
    );
  }
}
