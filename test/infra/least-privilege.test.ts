import { beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import type { AuthRequest } from './iam/auth-request.ts';
import { ACCOUNT } from './iam/auth-request.ts';
import { evaluate, type ResolvedStatement } from './iam/policy.ts';
import { templateRoles } from './iam/roles.ts';
import { repoConfigFile, SYNTH_TIMEOUT_MS, templateFor } from './synth.ts';

// What the permission contract test cannot show: that each role refuses what its Lambda never needs, as an
// attacker holding that role (or a bug in its code) would try it. Evaluated with the same IAM model, on the
// template of the repository's config (primary us-east-1, copies to us-west-2 with alias/dr).

let config: Config;
let roles: Map<string, ResolvedStatement[]>;
beforeAll(async () => {
  config = await loadConfigFile(repoConfigFile);
  roles = templateRoles(templateFor(config), config.region).byHandler;
}, SYNTH_TIMEOUT_MS);

const table = () => `arn:aws:dynamodb:${config.region}:${ACCOUNT}:table/${config.catalog.table}`;

function allowed(
  fn: string,
  request: Partial<AuthRequest> & Pick<AuthRequest, 'action' | 'resource'>,
): boolean {
  const statements = roles.get(fn);
  if (!statements) throw new Error(`the stack has no ${fn} Lambda`);
  const context = request.context ?? {};
  return evaluate(statements, { known: Object.keys(context), ...request, context }).allowed;
}

const leading = (key: string) => ({ context: { 'dynamodb:LeadingKeys': [key] } });

describe('the restore-volume role', () => {
  it('writes audit entries and nothing else in the catalog: no generation can be overwritten', () => {
    expect(
      allowed('restore-volume', {
        action: 'dynamodb:PutItem',
        resource: table(),
        ...leading('AUDIT#2026-12-01'),
      }),
    ).toBe(true);
    for (const key of ['GEN#gen-20261201T010000-0123456789', 'VOLUME#vol-1', 'SLOTS#us-west-2', 'AUDIT']) {
      expect(
        allowed('restore-volume', { action: 'dynamodb:PutItem', resource: table(), ...leading(key) }),
        key,
      ).toBe(false);
    }
    expect(
      allowed('restore-volume', { action: 'dynamodb:UpdateItem', resource: table(), ...leading('GEN#g') }),
    ).toBe(false);
    expect(
      allowed('restore-volume', { action: 'dynamodb:DeleteItem', resource: table(), ...leading('AUDIT#x') }),
    ).toBe(false);
  });

  it('uses the copy key only through EC2 of the copy Region, and only the key behind the alias', () => {
    const key = `arn:aws:kms:us-west-2:${ACCOUNT}:key/behind-alias-dr`;
    const via = (service: string, aliases = ['alias/dr']) => ({
      'kms:ViaService': [service],
      'kms:ResourceAliases': aliases,
    });
    expect(
      allowed('restore-volume', {
        action: 'kms:Decrypt',
        resource: key,
        context: via('ec2.us-west-2.amazonaws.com'),
      }),
    ).toBe(true);
    // Straight to KMS (decrypting data keys itself), through another service or Region, or another key.
    expect(
      allowed('restore-volume', {
        action: 'kms:Decrypt',
        resource: key,
        context: { 'kms:ResourceAliases': ['alias/dr'] },
        known: ['kms:ViaService', 'kms:ResourceAliases'],
      }),
    ).toBe(false);
    expect(
      allowed('restore-volume', {
        action: 'kms:Decrypt',
        resource: key,
        context: via('s3.us-west-2.amazonaws.com'),
      }),
    ).toBe(false);
    expect(
      allowed('restore-volume', {
        action: 'kms:Decrypt',
        resource: key,
        context: via('ec2.us-east-1.amazonaws.com'),
      }),
    ).toBe(false);
    expect(
      allowed('restore-volume', {
        action: 'kms:Decrypt',
        resource: key,
        context: via('ec2.us-west-2.amazonaws.com', ['alias/other']),
      }),
    ).toBe(false);
    // Grants only for the volume EBS makes, never for a principal of the attacker's choosing.
    const grant = { ...via('ec2.us-west-2.amazonaws.com'), 'kms:GrantIsForAWSResource': ['false'] };
    expect(allowed('restore-volume', { action: 'kms:CreateGrant', resource: key, context: grant })).toBe(
      false,
    );
  });

  it('creates volumes only from snapshots tagged as ours, the tag value matched exactly', () => {
    const snapshot = 'arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0';
    const tagged = (value: string) => ({
      action: 'ec2:CreateVolume',
      resource: snapshot,
      context: { 'ec2:ResourceTag/snapkeeper:managed': [value] },
      known: ['ec2:ResourceTag/'],
    });
    expect(allowed('restore-volume', tagged('true'))).toBe(true);
    expect(allowed('restore-volume', tagged('TRUE'))).toBe(false);
    expect(allowed('restore-volume', { ...tagged('true'), context: {} })).toBe(false);
  });
});

describe('the reconcile role', () => {
  it('puts and updates catalog items but deletes none', () => {
    expect(
      allowed('reconcile', { action: 'dynamodb:PutItem', resource: table(), ...leading('VOLUME#vol-1') }),
    ).toBe(true);
    expect(
      allowed('reconcile', { action: 'dynamodb:DeleteItem', resource: table(), ...leading('GEN#g') }),
    ).toBe(false);
    expect(
      allowed('reconcile', { action: 'dynamodb:BatchWriteItem', resource: table(), ...leading('GEN#g') }),
    ).toBe(false);
  });

  it('deletes only snapshots and AMIs tagged as ours, in the Regions of the config', () => {
    const managed = {
      context: { 'ec2:ResourceTag/snapkeeper:managed': ['true'] },
      known: ['ec2:ResourceTag/'],
    };
    const snapshot = (region: string) => `arn:aws:ec2:${region}::snapshot/snap-0123456789abcdef0`;
    expect(
      allowed('reconcile', { action: 'ec2:DeleteSnapshot', resource: snapshot('us-west-2'), ...managed }),
    ).toBe(true);
    expect(
      allowed('reconcile', { action: 'ec2:DeleteSnapshot', resource: snapshot('eu-west-1'), ...managed }),
    ).toBe(false);
    expect(
      allowed('reconcile', {
        action: 'ec2:DeleteSnapshot',
        resource: snapshot('us-east-1'),
        known: ['ec2:ResourceTag/'],
      }),
    ).toBe(false);
  });
});

describe('the writers of manifests', () => {
  it('lets each of them put manifests only under the layout prefixes, and only asking for SSE-S3', () => {
    const bucket = `arn:aws:s3:::${config.manifests?.bucket}`;
    for (const fn of ['scheduled-run', 'backup', 'reconcile', 'copy-worker']) {
      const put = (key: string, encryption?: string) =>
        allowed(fn, {
          action: 's3:PutObject',
          resource: `${bucket}/${key}`,
          context: encryption ? { 's3:x-amz-server-side-encryption': [encryption] } : {},
          known: ['s3:x-amz-server-side-encryption'],
        });
      expect(put('generations/gen-1.json', 'AES256'), fn).toBe(true);
      expect(put('by-volume/vol-1/8229_gen-1', 'AES256'), fn).toBe(true);
      expect(put('generations/gen-1.json'), fn).toBe(false);
      expect(put('index.html', 'AES256'), fn).toBe(false);
      expect(put('generationsX/gen-1.json', 'AES256'), fn).toBe(false);
      expect(
        allowed(fn, { action: 's3:DeleteObject', resource: `${bucket}/generations/gen-1.json` }),
        fn,
      ).toBe(false);
    }
  });
});
