import { Aws } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { Config } from '#core/config/config.ts';

/**
 * What EBS needs of a customer managed key to encrypt a copy with it. No kms:Encrypt: EBS never calls it. The
 * ReEncrypt actions are named, not `kms:ReEncrypt*`.
 */
const KEY_USE = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

/** A copy key as IAM sees it: a key ARN, or (for an alias) the keys of a Region that carry that alias. */
interface CopyKey {
  /** Where the copy is made, so the Region whose EC2 uses the key. */
  region: string;
  resource: string;
  alias?: string;
}

/**
 * The `copies[].kmsKeyId` of the config as IAM resources. IAM authorizes key operations against the key, never
 * the alias, even when the call names an alias; so an alias becomes "the keys of that Region and account that
 * carry this alias" (`kms:ResourceAliases`). Copies without a key use the Region's EBS default key, whose AWS
 * managed key policy already lets the account use it through EC2.
 */
export function copyKeys(
  config: Config,
  partition: string = Aws.PARTITION,
  account: string = Aws.ACCOUNT_ID,
): CopyKey[] {
  const keys = new Map<string, CopyKey>();
  for (const { region, kmsKeyId } of config.policies.flatMap((policy) => policy.copies)) {
    if (!kmsKeyId) continue;
    let key: CopyKey;
    if (kmsKeyId.startsWith('arn:')) {
      const [, arnPartition, , arnRegion, arnAccount, resource = ''] = kmsKeyId.split(':');
      key = resource.startsWith('alias/')
        ? { region, resource: `arn:${arnPartition}:kms:${arnRegion}:${arnAccount}:key/*`, alias: resource }
        : { region, resource: kmsKeyId };
    } else if (kmsKeyId.startsWith('alias/')) {
      key = { region, resource: `arn:${partition}:kms:${region}:${account}:key/*`, alias: kmsKeyId };
    } else {
      key = { region, resource: `arn:${partition}:kms:${region}:${account}:key/${kmsKeyId}` };
    }
    keys.set(JSON.stringify(key), key);
  }
  return [...keys.values()].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/**
 * Per copy Region, the copy keys usable only by EC2 of that Region on the worker's behalf (`kms:ViaService`), and
 * grants only for AWS resources (EBS holds one while it copies). Aliased keys get their own statements, with
 * the alias condition.
 */
function copyKeyStatements(config: Config): PolicyStatement[] {
  const groups = new Map<string, { region: string; resources: Set<string>; aliases: Set<string> }>();
  for (const key of copyKeys(config)) {
    const group = `${key.region} ${key.alias ? key.resource : ''}`;
    const entry = groups.get(group) ?? { region: key.region, resources: new Set(), aliases: new Set() };
    entry.resources.add(key.resource);
    if (key.alias) entry.aliases.add(key.alias);
    groups.set(group, entry);
  }
  return [...groups.values()].flatMap(({ region, resources, aliases }) => {
    const viaEc2 = {
      StringEquals: { 'kms:ViaService': `ec2.${region}.${Aws.URL_SUFFIX}` },
      ...(aliases.size > 0 && { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [...aliases] } }),
    };
    return [
      new PolicyStatement({ actions: KEY_USE, resources: [...resources], conditions: viaEc2 }),
      new PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources: [...resources],
        conditions: { ...viaEc2, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    ];
  });
}

/**
 * Lets a role use the copy keys of the config as EBS does on its behalf, each only through EC2 of its copy
 * Region: the copy worker encrypts copies with them, and the restore-volume runbook creates volumes from those
 * copies, which EBS decrypts and re-encrypts with the same key (EBS encryption, "Permissions for users":
 * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html#ebs-encryption-permissions;
 * the condition key: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
 */
export function grantCopyKeyUse(grantee: IGrantable, config: Config): void {
  for (const statement of copyKeyStatements(config)) grantee.grantPrincipal.addToPrincipalPolicy(statement);
}

/** The `key/*` wildcard an aliased copy key needs, suppressed on the role that holds it, with its reason. */
export function suppressCopyKeyFindings(role: IConstruct, config: Config): void {
  const aliased = copyKeys(config, '<AWS::Partition>', '<AWS::AccountId>').filter((key) => key.alias);
  if (aliased.length === 0) return;
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The config names these copy keys by alias, and IAM cannot name a key by its alias: key/* is narrowed to the keys that carry the alias (kms:ResourceAliases), used only through EC2 of the copy Region (kms:ViaService), with grants only for AWS resources.',
        appliesTo: [...new Set(aliased.map((key) => `Resource::${key.resource}`))],
      },
    ],
    true,
  );
}
