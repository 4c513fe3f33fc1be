import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import { MANIFEST_LOCK_DAYS } from '../../infra/manifest-bucket.ts';
import { repoConfigFile, SYNTH_TIMEOUT_MS, type Synthesized, synthesize } from './synth.ts';

// The manifest bucket (Trust §6): its own stack in the manifest Region, so neither the primary Region nor the
// main stack can take it down, and the properties a DR copy of the catalog needs, asserted on the template (the
// emulator's CloudFormation ignores versioning, Object Lock, public access blocks and bucket policies).

let synthesized: Synthesized;
let config: Config;
beforeAll(async () => {
  config = await loadConfigFile(repoConfigFile);
  synthesized = synthesize(repoConfigFile);
}, SYNTH_TIMEOUT_MS);

const bucket = () => {
  const buckets = Object.values(synthesized.manifests?.template.findResources('AWS::S3::Bucket') ?? {});
  expect(buckets).toHaveLength(1);
  return buckets[0] as { Properties: Record<string, unknown>; DeletionPolicy: string };
};

describe('the manifest bucket', () => {
  it('lives in a stack of its own in the manifest Region, deployed before the main stack', () => {
    expect(synthesized.manifests?.stack.region).toBe(config.manifests?.region);
    expect(synthesized.stack.dependencies).toContain(synthesized.manifests?.stack);
    expect(bucket().Properties.BucketName).toBe(config.manifests?.bucket);
    // Nothing of the main stack holds the bucket: losing the primary Region or deleting that stack leaves it.
    expect(synthesized.template.findResources('AWS::S3::Bucket')).toEqual({});
  });

  it('is retained, encrypted with SSE-S3, private and owned by the account alone', () => {
    const { Properties, DeletionPolicy } = bucket();
    expect(DeletionPolicy).toBe('Retain');
    expect(Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  it('keeps every version of every manifest, each locked against deletion for the lock period', () => {
    const { Properties } = bucket();
    expect(Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(Properties.ObjectLockEnabled).toBe(true);
    expect(Properties.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: MANIFEST_LOCK_DAYS } },
    });
    // Replaced versions expire only after their lock has run out.
    const rules = (
      Properties.LifecycleConfiguration as {
        Rules: { NoncurrentVersionExpiration?: { NoncurrentDays: number } }[];
      }
    ).Rules;
    for (const rule of rules) {
      expect(rule.NoncurrentVersionExpiration?.NoncurrentDays ?? Number.POSITIVE_INFINITY).toBeGreaterThan(
        MANIFEST_LOCK_DAYS,
      );
    }
  });

  it('refuses every request that does not come over TLS', () => {
    const policies = Object.values(
      synthesized.manifests?.template.findResources('AWS::S3::BucketPolicy') ?? {},
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('passes the cdk-nag AwsSolutions checks with no unsuppressed error or warning', () => {
    const stack = synthesized.manifests?.stack;
    if (!stack) throw new Error('no manifest stack');
    const annotations = Annotations.fromStack(stack);
    const nag = Match.stringLikeRegexp('AwsSolutions-.*');
    const findings = [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)];
    expect(findings.map((finding) => `${finding.id}: ${finding.entry.data}`)).toEqual([]);
  });
});

describe('a config without manifests', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-manifests-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it(
    'has no manifest stack',
    () => {
      const { manifests: _none, ...withoutManifests } = JSON.parse(readFileSync(repoConfigFile, 'utf8'));
      const file = join(scratch, 'no-manifests.json');
      writeFileSync(file, JSON.stringify(withoutManifests));
      expect(synthesize(file).manifests).toBeUndefined();
    },
    SYNTH_TIMEOUT_MS,
  );
});
