import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectLockRetention,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * How long a version of a manifest cannot be deleted or overwritten in place, even by an administrator without
 * `s3:BypassGovernanceRetention`: long enough to notice a bad write or a deletion and restore from the version
 * before it, as the catalog's point-in-time recovery covers 35 days.
 */
export const MANIFEST_LOCK_DAYS = 35;
/** Replaced versions (every rewrite of a manifest leaves one) are kept this long after their lock ends. */
export const NONCURRENT_VERSION_DAYS = 90;

export interface ManifestBucketStackProps extends StackProps {
  /** The config's `manifests.bucket`. */
  readonly bucketName: string;
}

/**
 * The manifest bucket, in a stack of its own in the manifest (DR) Region: the main stack lives in the primary
 * Region, and the manifests must outlive that Region and that stack. Retained on deletion; encrypted with
 * SSE-S3 (the writers' puts must ask for it too); TLS only; no public access; versioned with Object Lock in
 * governance mode, so an overwrite keeps the old version and no version can be deleted while locked.
 */
export class ManifestBucketStack extends Stack {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: ManifestBucketStackProps) {
    super(scope, id, props);
    this.bucket = new Bucket(this, 'Manifests', {
      bucketName: props.bucketName,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.governance(Duration.days(MANIFEST_LOCK_DAYS)),
      lifecycleRules: [
        {
          id: 'expire-replaced-versions',
          noncurrentVersionExpiration: Duration.days(MANIFEST_LOCK_DAYS + NONCURRENT_VERSION_DAYS),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.bucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'Server access logs would need a second bucket in the DR Region, itself unlogged; who wrote what is in CloudTrail (enable S3 data events for this bucket), and every version of every manifest is kept and locked.',
      },
    ]);
  }
}
