import type { Shape } from '../../harness/faults.ts';
import type { PermissionCall } from '../../harness/permission-recorder.ts';
import { ACCOUNT, type AuthRequest, simple, unmodelled } from './auth-request.ts';

type Ec2Type =
  | 'volume'
  | 'instance'
  | 'snapshot'
  | 'image'
  | 'subnet'
  | 'security-group'
  | 'key-pair'
  | 'network-interface';

/** Snapshot and image ARNs carry no account; volume and instance ARNs do. */
function arn(region: string, type: Ec2Type, id: string): string {
  const account = type === 'snapshot' || type === 'image' ? '' : ACCOUNT;
  return `arn:aws:ec2:${region}:${account}:${type}/${id}`;
}

const tagContext = (prefixes: string[], tags: Record<string, string>) =>
  Object.fromEntries(
    prefixes.flatMap((prefix) => Object.entries(tags).map(([k, v]) => [`${prefix}${k}`, [v]])),
  );

/**
 * An existing resource the call acts on, with the tags the recorder looked up: `ec2:ResourceTag/…` and
 * `aws:ResourceTag/…`. Without a lookup its tags are unknown, so a tag condition on it fails the test.
 */
function existing(
  call: PermissionCall,
  action: string,
  region: string,
  type: Ec2Type,
  id: unknown,
): AuthRequest {
  const facts = call.resources[`${region}/${String(id)}`];
  return {
    action,
    resource: arn(region, type, String(id)),
    context: tagContext(['ec2:ResourceTag/', 'aws:ResourceTag/'], facts?.tags ?? {}),
    known: facts ? ['ec2:ResourceTag/', 'aws:ResourceTag/'] : [],
    ...(facts && !facts.exists ? { moot: `${type} ${String(id)} does not exist` } : {}),
  };
}

/**
 * A resource the call creates, with the tags its `TagSpecifications` give it (`aws:RequestTag/…`,
 * `aws:TagKeys`), and the `ec2:CreateTags` authorization that tagging at creation needs (`ec2:CreateAction`).
 */
function created(call: PermissionCall, type: Ec2Type): AuthRequest[] {
  const specs = (call.input.TagSpecifications ?? []) as { ResourceType?: string; Tags?: Shape[] }[];
  const tags = Object.fromEntries(
    (specs.find((s) => s.ResourceType === type)?.Tags ?? []).map((t) => [String(t.Key), String(t.Value)]),
  );
  const context = { ...tagContext(['aws:RequestTag/'], tags), 'aws:TagKeys': Object.keys(tags) };
  const resource = arn(call.region, type, `${type}-created-by-${call.action}`);
  const create = {
    action: `ec2:${call.action}`,
    resource,
    context,
    known: ['aws:RequestTag/', 'aws:TagKeys'],
  };
  if (Object.keys(tags).length === 0) return [create];
  const tagging = {
    action: 'ec2:CreateTags',
    resource,
    context: { ...context, 'ec2:CreateAction': [call.action] },
    known: ['aws:RequestTag/', 'aws:TagKeys', 'ec2:CreateAction'],
  };
  return [create, tagging];
}

/** What EBS asks of a customer managed key on the caller's behalf (EBS encryption, "Permissions for users"). */
const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

/**
 * The KMS authorizations EC2 makes as the caller when it encrypts or decrypts with `key` in `region`: through
 * EC2 (`kms:ViaService`), grants for an AWS resource. A key named by alias is authorized as the key behind it,
 * which carries the alias (`kms:ResourceAliases`). The AWS managed `aws/ebs` key's policy allows the account
 * through EC2 already, so it needs no IAM permission.
 */
function keyUse(key: string | undefined, region: string): AuthRequest[] {
  if (!key || key === 'alias/aws/ebs' || key.endsWith(':alias/aws/ebs')) return [];
  const [, , , arnRegion = region, arnAccount = ACCOUNT, resource = key] = key.startsWith('arn:')
    ? key.split(':')
    : [];
  const name = key.startsWith('arn:') ? resource : key;
  const alias = name.startsWith('alias/') ? name : undefined;
  const keyArn = `arn:aws:kms:${arnRegion}:${arnAccount}:key/${alias ? `behind-${alias}` : name.replace(/^key\//, '')}`;
  const context: Record<string, string[]> = {
    'kms:ViaService': [`ec2.${region}.amazonaws.com`],
    'kms:ResourceAliases': alias ? [alias] : [],
    'kms:CallerAccount': [ACCOUNT],
  };
  return EBS_KEY_ACTIONS.map((action) => ({
    action,
    resource: keyArn,
    context: action === 'kms:CreateGrant' ? { ...context, 'kms:GrantIsForAWSResource': ['true'] } : context,
    known: [...Object.keys(context), 'kms:GrantIsForAWSResource'],
  }));
}

/** CreateTags on an existing resource: the tags it writes are `aws:RequestTag/…` and `aws:TagKeys`. */
function tagging(call: PermissionCall, target: AuthRequest): AuthRequest {
  const tags = Object.fromEntries(
    ((call.input.Tags ?? []) as Shape[]).map((t) => [String(t.Key), String(t.Value)]),
  );
  return {
    ...target,
    context: {
      ...target.context,
      ...tagContext(['aws:RequestTag/'], tags),
      'aws:TagKeys': Object.keys(tags),
    },
    // Outside a create call there is no ec2:CreateAction: known to be absent.
    known: [...target.known, 'aws:RequestTag/', 'aws:TagKeys', 'ec2:CreateAction'],
  };
}

/** EC2's authorizations, from the Service Authorization Reference's resource types of each action. */
export function ec2Requests(call: PermissionCall): AuthRequest[] {
  const { input, region, action } = call;
  const ec2 = `ec2:${action}`;
  // Describe* actions support no resource-level permissions.
  if (action.startsWith('Describe')) return [simple(ec2, '*')];
  const sourceRegion = String(input.SourceRegion ?? region);
  switch (action) {
    case 'CreateSnapshot':
      return [simple(ec2, arn(region, 'volume', String(input.VolumeId))), ...created(call, 'snapshot')];
    case 'CreateSnapshots': {
      const instance = (input.InstanceSpecification as Shape | undefined)?.InstanceId;
      return [simple(ec2, arn(region, 'instance', String(instance))), ...created(call, 'snapshot')];
    }
    case 'CreateImage':
      return [
        simple(ec2, arn(region, 'instance', String(input.InstanceId))),
        ...created(call, 'image'),
        ...created(call, 'snapshot'),
      ];
    case 'CreateVolume': {
      const snapshotId = input.SnapshotId;
      const source = snapshotId ? [existing(call, ec2, region, 'snapshot', snapshotId)] : [];
      const sourceKey = snapshotId ? call.resources[`${region}/${String(snapshotId)}`]?.kmsKeyId : undefined;
      const keys = new Set([sourceKey, input.KmsKeyId as string | undefined]);
      return [...created(call, 'volume'), ...source, ...[...keys].flatMap((key) => keyUse(key, region))];
    }
    case 'CopySnapshot':
      return [
        existing(call, ec2, sourceRegion, 'snapshot', input.SourceSnapshotId),
        ...created(call, 'snapshot'),
        ...keyUse(input.KmsKeyId as string | undefined, region),
      ];
    case 'CopyImage':
      return [
        existing(call, ec2, sourceRegion, 'image', input.SourceImageId),
        ...created(call, 'image'),
        ...keyUse(input.KmsKeyId as string | undefined, region),
      ];
    case 'DeleteSnapshot':
      return [existing(call, ec2, region, 'snapshot', input.SnapshotId)];
    case 'StopInstances':
    case 'StartInstances':
      return ((input.InstanceIds ?? []) as string[]).map((id) => existing(call, ec2, region, 'instance', id));
    case 'AttachVolume':
    case 'DetachVolume':
      return [
        existing(call, ec2, region, 'instance', input.InstanceId),
        existing(call, ec2, region, 'volume', input.VolumeId),
      ];
    case 'DeleteVolume':
      return [existing(call, ec2, region, 'volume', input.VolumeId)];
    case 'CreateTags':
      return ((input.Resources ?? []) as string[]).map((id) =>
        tagging(call, existing(call, ec2, region, 'volume', id)),
      );
    case 'DeregisterImage':
    case 'EnableImageDeprecation':
      return [existing(call, ec2, region, 'image', input.ImageId)];
    case 'RunInstances':
      return runInstances(call);
    case 'TerminateInstances':
      return ((input.InstanceIds ?? []) as string[]).map((id) => existing(call, ec2, region, 'instance', id));
  }
  throw unmodelled(call);
}

/**
 * RunInstances is authorized on the AMI, on each thing it creates (the instance, its root volume, its network
 * interface) and on each it uses (the subnet, every security group, the key pair); an instance profile is a
 * PassRole of its role to EC2. The role behind a profile is not known here: any role, passed to EC2.
 */
function runInstances(call: PermissionCall): AuthRequest[] {
  const { input, region } = call;
  const ec2 = 'ec2:RunInstances';
  const groups = (input.SecurityGroupIds ?? []) as string[];
  const profile = input.IamInstanceProfile as Shape | undefined;
  return [
    existing(call, ec2, region, 'image', input.ImageId),
    ...created(call, 'instance'),
    ...created(call, 'volume'),
    simple(ec2, arn(region, 'network-interface', 'network-interface-created-by-RunInstances')),
    simple(ec2, arn(region, 'subnet', String(input.SubnetId))),
    ...groups.map((group) => simple(ec2, arn(region, 'security-group', group))),
    ...(input.KeyName ? [simple(ec2, arn(region, 'key-pair', String(input.KeyName)))] : []),
    ...(profile
      ? [
          simple(
            'iam:PassRole',
            `arn:aws:iam::${ACCOUNT}:role/role-of-${String(profile.Name ?? profile.Arn)}`,
            {
              'iam:PassedToService': ['ec2.amazonaws.com'],
            },
          ),
        ]
      : []),
  ];
}
