import { Aws } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { catalogIndexes, catalogLayout } from '#adapters/catalog/layout.ts';
import type { Config } from '#core/config/config.ts';
import { TAG } from '#core/model/tags.ts';
import { grantCopyKeyUse } from './copy-keys.ts';

/**
 * EC2 ARNs of the stack's own account. The stack's Region is written as a pseudo parameter rather than the
 * resolved env, so the template, and the cdk-nag suppressions that name these exact wildcards, read the same
 * whatever account and Region the app is synthesized for. EBS snapshot ARNs carry no account.
 */
export function ec2Arns(
  region: string = Aws.REGION,
  partition: string = Aws.PARTITION,
  account = Aws.ACCOUNT_ID,
) {
  return {
    volume: `arn:${partition}:ec2:${region}:${account}:volume/*`,
    instance: `arn:${partition}:ec2:${region}:${account}:instance/*`,
    snapshot: `arn:${partition}:ec2:${region}::snapshot/*`,
    image: `arn:${partition}:ec2:${region}::image/*`,
  };
}

/** The same ARNs as cdk-nag spells them in a finding's `appliesTo` (`Resource::arn:<AWS::Partition>:…`). */
export function ec2ArnsAsNagSeesThem(region = '<AWS::Region>') {
  return ec2Arns(region, '<AWS::Partition>', '<AWS::AccountId>');
}

/** The request creates the resource tagged `snapkeeper:managed=true` (TagSpecifications). */
export const MANAGED_REQUEST_TAG = { StringEquals: { [`aws:RequestTag/${TAG.managed}`]: 'true' } };

/** The resource already carries `snapkeeper:managed=true`. */
export const MANAGED_RESOURCE_TAG = { StringEquals: { [`ec2:ResourceTag/${TAG.managed}`]: 'true' } };

/** The table and its named indexes, and nothing else: no `index/*` wildcard. */
export function catalogArns(table: ITable): string[] {
  return [table.tableArn, ...catalogIndexes.map((index) => `${table.tableArn}/index/${index.name}`)];
}

export const CATALOG_READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];

/**
 * Writing records in place: Put and Update, also inside TransactWriteItems. No DeleteItem and no BatchWriteItem
 * (which can delete): nothing erases a record.
 */
export const CATALOG_WRITE = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'];

/**
 * What a scheduled run may do: find its targets, snapshot them with tags applied at creation, and record
 * generations. It can create only snapshots that carry `snapkeeper:managed=true` from birth, and it has no
 * delete permission of any kind (retention, and with it deletion, is not part of this slice).
 */
export function grantScheduledRun(grantee: IGrantable, table: ITable): void {
  const principal = grantee.grantPrincipal;
  const arns = ec2Arns();
  // Selection reads instances and volumes by tag, and a retried run looks for the snapshots it already took.
  // Describe* actions do not support resource-level permissions, so `*` is the only resource IAM accepts.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeSnapshots'],
      resources: ['*'],
    }),
  );
  // The source side of a snapshot: any volume or instance of this account and Region may be backed up. Which
  // ones is decided by tags at run time, and an instance's volumes need not carry the policy tag themselves.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateSnapshot', 'ec2:CreateSnapshots'],
      resources: [arns.volume, arns.instance],
    }),
  );
  // The created side: a snapshot may come into existence only already tagged as ours, so everything this
  // function makes is recognisable, and retention (later) can be scoped to that tag.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateSnapshot', 'ec2:CreateSnapshots'],
      resources: [arns.snapshot],
      conditions: MANAGED_REQUEST_TAG,
    }),
  );
  // Tags only as part of those create calls (TagSpecifications), never tagging afterwards, which would let the
  // function mark someone else's snapshot as managed.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [arns.snapshot],
      conditions: { StringEquals: { 'ec2:CreateAction': ['CreateSnapshot', 'CreateSnapshots'] } },
    }),
  );
  // Runs claim, record and complete generations; a run never erases a record.
  principal.addToPrincipalPolicy(
    new PolicyStatement({ actions: [...CATALOG_READ, ...CATALOG_WRITE], resources: catalogArns(table) }),
  );
}

/**
 * What the restore-volume runbook may do: read the catalog, create a volume from one of our snapshots, tagged
 * as ours at creation, in the primary Region or a DR Region (using the copy keys of the config through EC2),
 * and write an audit entry. It cannot create anything from a snapshot it did not take, cannot write any catalog
 * item but an audit entry, and cannot delete.
 *
 * @param drRegions the policies' copy Regions, where a restore may also run.
 */
export function grantRestoreVolume(
  grantee: IGrantable,
  table: ITable,
  config: Config,
  drRegions: readonly string[],
): void {
  const principal = grantee.grantPrincipal;
  // Checking the zone and waiting for the new volume to become available are Describe* calls, which IAM cannot
  // scope to resources.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:DescribeVolumes', 'ec2:DescribeAvailabilityZones', 'ec2:DescribeVolumeStatus'],
      resources: ['*'],
    }),
  );
  grantRestoredVolumes(grantee, [ec2Arns(), ...drRegions.map((region) => ec2Arns(region))]);
  grantRunbookCatalog(grantee, table);
  // Volumes from copies encrypted with a copy key: EBS uses the key on the runbook's behalf.
  grantCopyKeyUse(principal, config);
}

/**
 * CreateVolume from one of our snapshots, the new volume born tagged as ours, in the Regions of `regions`: what
 * every runbook that restores a volume needs.
 */
function grantRestoredVolumes(grantee: IGrantable, regions: ReturnType<typeof ec2Arns>[]): void {
  const principal = grantee.grantPrincipal;
  // The new volume must be born tagged as ours, so everything a restore leaves behind can be found.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateVolume'],
      resources: regions.map((arns) => arns.volume),
      conditions: MANAGED_REQUEST_TAG,
    }),
  );
  // Restore reads only our snapshots: one someone else took, or shared with this account, cannot be the source.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateVolume'],
      resources: regions.map((arns) => arns.snapshot),
      conditions: MANAGED_RESOURCE_TAG,
    }),
  );
  // Tags only through CreateVolume's TagSpecifications, never on an existing volume.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: regions.map((arns) => arns.volume),
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } },
    }),
  );
}

/**
 * A runbook reads generations; its only writes are under the audit prefix (audit entries, request journals).
 * PutItem replaces a whole item, so it is allowed only for items whose partition key starts `AUDIT#`, a prefix
 * no generation or pointer has: a runbook can neither edit nor overwrite a generation. ForAllValues holds for a
 * request without keys, but PutItem always has one. No UpdateItem.
 */
function grantRunbookCatalog(grantee: IGrantable, table: ITable): void {
  const principal = grantee.grantPrincipal;
  principal.addToPrincipalPolicy(
    new PolicyStatement({ actions: CATALOG_READ, resources: catalogArns(table) }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['dynamodb:PutItem'],
      resources: [table.tableArn],
      conditions: {
        'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${catalogLayout.auditPrefix}*`] },
      },
    }),
  );
}

/** An instance snapkeeper backs up: it carries a `snapkeeper:policy` tag (any value). */
export const BACKED_UP_INSTANCE = { Null: { [`ec2:ResourceTag/${TAG.policy}`]: 'false' } };

/**
 * What the replace-volume runbook may do, in the primary Region: restore a volume as restore-volume does; stop,
 * start, attach to and detach from only instances snapkeeper backs up (tagged `snapkeeper:policy`); tag an
 * existing volume with `snapkeeper:replaced-by` and nothing else; delete only a volume snapkeeper created
 * (`snapkeeper:managed=true`, the restored volume of a rolled-back request); and keep its journal and audit entry.
 *
 * The volume side of AttachVolume and DetachVolume carries no tag condition: the old volume of an instance
 * backed up as a whole need not carry any snapkeeper tag, and a rollback must put it back. The instance side
 * bounds it: both calls authorize the instance too, and only a backed-up instance is allowed.
 */
export function grantReplaceVolume(grantee: IGrantable, table: ITable): void {
  const principal = grantee.grantPrincipal;
  const arns = ec2Arns();
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:DescribeVolumes', 'ec2:DescribeInstances', 'ec2:DescribeVolumeStatus'],
      resources: ['*'],
    }),
  );
  grantRestoredVolumes(grantee, [arns]);
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:AttachVolume', 'ec2:DetachVolume'],
      resources: [arns.instance],
      conditions: BACKED_UP_INSTANCE,
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['ec2:AttachVolume', 'ec2:DetachVolume'], resources: [arns.volume] }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [arns.volume],
      conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [TAG.replacedBy] } },
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:DeleteVolume'],
      resources: [arns.volume],
      conditions: MANAGED_RESOURCE_TAG,
    }),
  );
  grantRunbookCatalog(grantee, table);
}

/**
 * `type/*` of this account in every Region. For what restore-instance may do only within a launch from an AMI of
 * ours (make an instance and volumes born tagged as ours, use a subnet, groups, a key, make a network interface,
 * tag inside RunInstances) or only to what it made (tagged `snapkeeper:managed=true`): a launch also needs the
 * image statement, which holds only in the config's Regions, so the wildcard grants nothing elsewhere, and keeps
 * the role's policy within IAM's size with many copy Regions.
 */
export function everyRegion(
  type: string,
  partition: string = Aws.PARTITION,
  account = Aws.ACCOUNT_ID,
): string {
  return `arn:${partition}:ec2:*:${account}:${type}/*`;
}

/**
 * What the restore-instance runbook may do, in the primary Region and the copy Regions: launch an instance only
 * from an AMI snapkeeper made (`snapkeeper:managed=true` on the image and its snapshots) and only born tagged as
 * ours (the instance and its root volume, tags only inside RunInstances); restore the data volumes as
 * restore-volume does; attach, terminate and delete only what carries `snapkeeper:managed=true` (the instance and
 * volumes it made, on rollback); pass a role only to EC2 (the instance profile); and keep its journal and audit
 * entry. The subnet, security groups, key pair and network interface are the operator's to choose.
 */
export function grantRestoreInstance(
  grantee: IGrantable,
  table: ITable,
  config: Config,
  drRegions: readonly string[],
): void {
  const principal = grantee.grantPrincipal;
  const regions = [ec2Arns(), ...drRegions.map((region) => ec2Arns(region))];
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [
        'ec2:DescribeImages',
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceTypeOfferings',
        'ec2:DescribeKeyPairs',
        'ec2:DescribeSecurityGroups',
        'ec2:DescribeSubnets',
        'ec2:DescribeVolumes',
        'ec2:DescribeVolumeStatus',
      ],
      resources: ['*'],
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: [everyRegion('instance'), everyRegion('volume')],
      conditions: MANAGED_REQUEST_TAG,
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: regions.flatMap((arns) => [arns.image, arns.snapshot]),
      conditions: MANAGED_RESOURCE_TAG,
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:RunInstances'],
      resources: ['subnet', 'security-group', 'key-pair', 'network-interface'].map((type) =>
        everyRegion(type),
      ),
    }),
  );
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [everyRegion('instance'), everyRegion('volume')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    }),
  );
  grantRestoredVolumes(grantee, regions);
  // Only onto the instance it launched, only volumes it restored; on rollback, only those are removed.
  const managed: [string, string[]][] = [
    ['ec2:AttachVolume', ['instance', 'volume']],
    ['ec2:TerminateInstances', ['instance']],
    ['ec2:DeleteVolume', ['volume']],
  ];
  for (const [action, types] of managed) {
    principal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [action],
        resources: types.map((type) => everyRegion(type)),
        conditions: MANAGED_RESOURCE_TAG,
      }),
    );
  }
  // The instance profile's role goes to EC2 and nowhere else.
  principal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [`arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/*`],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    }),
  );
  grantRunbookCatalog(grantee, table);
  grantCopyKeyUse(principal, config);
}
