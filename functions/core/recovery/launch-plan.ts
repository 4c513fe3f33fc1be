import type { Config } from '#core/config/config.ts';
import type { CatalogReader } from '#core/model/catalog.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG, userTags } from '#core/model/tags.ts';
import { findImageSource, type ImageSource } from './instance-source.ts';
import type { ImageFacts, LaunchFacts, LaunchService, SubnetFacts } from './ports.ts';
import { type FieldProblem, refuse } from './request.ts';
import { carriedTags } from './source.ts';
import { type VolumeShape, volumeShape } from './volume-options.ts';

/**
 * What restore-instance will launch, every value resolved and checked against EC2 before anything is created:
 * the AMI (refused when deprecated unless forced, or when EC2 cannot launch from it), the subnet in the Region,
 * security groups of the subnet's VPC, an instance type offered in the subnet's zone, a key pair that exists
 * there. What the request leaves out comes from the live source instance when there is one.
 */

/** A data volume to restore in the instance's zone and attach at its device. */
export interface PlannedVolume {
  deviceName: string;
  snapshotId: string;
  sourceVolumeId: string;
  shape: VolumeShape;
  tags: Tags;
}

export interface InstancePlan {
  region: string;
  generationId: string;
  sourceInstanceId: string;
  imageId: string;
  instanceType: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  securityGroupIds: string[];
  keyName?: string;
  instanceProfile?: string;
  /** The new instance's tags. */
  tags: Tags;
  volumes: PlannedVolume[];
  /** Where the values the request left out came from: the live source instance, or nowhere (it is gone). */
  carriedFrom: 'source-instance' | 'none';
  /** What was allowed though questionable: a deprecated AMI launched with `force`. */
  warnings: string[];
}

/** The request fields the plan reads. */
export interface LaunchRequestFields {
  instanceId?: string;
  generationId?: string;
  at?: string;
  region?: string;
  subnetId?: string;
  instanceType?: string;
  securityGroupIds?: string;
  keyName?: string;
  instanceProfile?: string;
  force: boolean;
}

export async function planLaunch(
  runbook: string,
  request: LaunchRequestFields,
  requestedAt: string,
  deps: { config: Config; catalog: CatalogReader; launches: LaunchService },
  options: { extraTags?: Tags; carrySourceTags?: boolean },
): Promise<InstancePlan> {
  const primary = deps.config.region;
  const region = request.region ?? primary;
  const at = request.at ? new Date(request.at).toISOString() : requestedAt;
  const source = await findImageSource(runbook, request, at, region, deps);
  const warnings = imageProblems(
    runbook,
    source,
    await deps.launches.image(region, source.imageId),
    requestedAt,
    request.force,
  );
  const live = await deps.launches.launchFacts(primary, source.instanceId);
  const facts = { source, live, home: region === primary };
  const subnet = await pickSubnet(runbook, request, facts, deps.launches);
  const securityGroupIds = await pickSecurityGroups(runbook, request, facts, subnet, deps.launches);
  const instanceType = await pickInstanceType(runbook, request, facts, subnet, deps.launches);
  const keyName = await pickKeyName(runbook, request, facts, deps.launches);
  const instanceProfile = request.instanceProfile ?? live?.instanceProfileArn;
  const carried = options.carrySourceTags === false ? {} : withoutSnapkeeperTags(live?.tags ?? {});
  return {
    region,
    generationId: source.generation.id,
    sourceInstanceId: source.instanceId,
    imageId: source.imageId,
    instanceType,
    subnetId: subnet.subnetId,
    vpcId: subnet.vpcId,
    availabilityZone: subnet.availabilityZone,
    securityGroupIds,
    ...(keyName ? { keyName } : {}),
    ...(instanceProfile ? { instanceProfile } : {}),
    tags: {
      ...carried,
      ...options.extraTags,
      [TAG.managed]: 'true',
      [TAG.restoredFrom]: source.generation.id,
      [TAG.sourceInstance]: source.instanceId,
    },
    volumes: source.dataVolumes.map(({ deviceName, snapshotId, snapshot }) => ({
      deviceName,
      snapshotId,
      sourceVolumeId: snapshot.volumeId,
      shape: volumeShape({}, snapshot),
      tags: carriedTags({
        generation: source.generation,
        snapshot: { ...snapshot, volumeTags: withoutSnapkeeperTags(snapshot.volumeTags) },
        snapshotId,
        region,
      }),
    })),
    carriedFrom: live ? 'source-instance' : 'none',
    warnings,
  };
}

/**
 * The source's user tags without snapkeeper's own: a restored instance carrying `snapkeeper:policy` would become
 * a second backup target of the same workload (and a drill's scratch instance one too); the operator who keeps
 * the restored instance tags it to back it up.
 */
export function withoutSnapkeeperTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(userTags(tags)).filter(([key]) => !key.startsWith('snapkeeper:')));
}

interface Facts {
  source: ImageSource;
  live: LaunchFacts | undefined;
  /** Launching in the primary Region, where the source's network is. */
  home: boolean;
}

/** Why the AMI cannot be launched from; a deprecated one is a warning when forced. */
function imageProblems(
  runbook: string,
  source: ImageSource,
  image: ImageFacts | undefined,
  now: string,
  force: boolean,
): string[] {
  const { imageId, region, generation } = source;
  const other = `pick another generation (snapkeeper generations --instance ${source.instanceId})`;
  if (!image) {
    refuse(runbook, [
      {
        message: `AMI ${imageId} of generation ${generation.id} does not exist in ${region} (deregistered outside snapkeeper?); ${other}`,
      },
    ]);
  }
  const { state, deprecationTime } = image as ImageFacts;
  if (state === 'disabled') {
    refuse(runbook, [
      {
        message: `AMI ${imageId} is disabled (State=disabled): EC2 launches no instance from a disabled AMI, so {force} cannot override it; re-enable it (aws ec2 enable-image --image-id ${imageId} --region ${region}) and ask again, or ${other}`,
      },
    ]);
  }
  if (state !== 'available') {
    refuse(runbook, [{ message: `AMI ${imageId} is ${state}, not available; ${other}` }]);
  }
  if (deprecationTime && deprecationTime <= now) {
    const why = `AMI ${imageId} was deprecated at ${deprecationTime} (its schedule's deprecateAfterDays marks old AMIs)`;
    if (!force) {
      refuse(runbook, [
        {
          field: 'force',
          message: `${why}; give {force} to launch from it anyway, or ${other}`,
        },
      ]);
    }
    return [`${why}; launched anyway (force)`];
  }
  return [];
}

async function pickSubnet(
  runbook: string,
  request: LaunchRequestFields,
  { live, home, source }: Facts,
  launches: LaunchService,
): Promise<SubnetFacts> {
  const subnetId = request.subnetId ?? (home ? live?.subnetId : undefined);
  if (!subnetId) {
    const why = home
      ? `the source instance ${source.instanceId} no longer exists, so there is no subnet to carry`
      : `the source instance's subnet is in another Region than ${source.region}`;
    refuse(runbook, [
      { field: 'subnetId', message: `${why}; give {subnetId}, a subnet of ${source.region}` },
    ]);
  }
  const subnet = await launches.subnet(source.region, subnetId as string);
  if (!subnet) {
    refuse(runbook, [
      {
        field: 'subnetId',
        message: `${subnetId} does not exist in ${source.region}; give a subnet of ${source.region}${request.region ? '' : ', or set {region}'}`,
      },
    ]);
  }
  return subnet as SubnetFacts;
}

async function pickSecurityGroups(
  runbook: string,
  request: LaunchRequestFields,
  { live, home, source }: Facts,
  subnet: SubnetFacts,
  launches: LaunchService,
): Promise<string[]> {
  const asked = request.securityGroupIds?.split(',');
  const carried = home && live && live.vpcId === subnet.vpcId ? live.securityGroupIds : undefined;
  const groupIds = asked ?? carried ?? [];
  if (groupIds.length === 0) {
    const why = !live
      ? `the source instance ${source.instanceId} no longer exists`
      : !home
        ? `the source instance's security groups are in another Region than ${source.region}`
        : `the source instance's security groups are in ${live.vpcId}, and ${subnet.subnetId} is in ${subnet.vpcId}`;
    refuse(runbook, [
      {
        field: 'securityGroupIds',
        message: `${why}; give {securityGroupIds} of ${subnet.vpcId}`,
      },
    ]);
  }
  const found = new Map(
    (await launches.securityGroups(source.region, groupIds)).map((g) => [g.groupId, g.vpcId]),
  );
  const problems: FieldProblem[] = groupIds.flatMap((groupId) => {
    const vpcId = found.get(groupId);
    if (!vpcId)
      return [{ field: 'securityGroupIds', message: `${groupId} does not exist in ${source.region}` }];
    if (vpcId !== subnet.vpcId) {
      return [
        {
          field: 'securityGroupIds',
          message: `${groupId} is in ${vpcId} and ${subnet.subnetId} in ${subnet.vpcId}: the groups and the subnet must share a VPC`,
        },
      ];
    }
    return [];
  });
  refuse(runbook, problems);
  return groupIds;
}

async function pickInstanceType(
  runbook: string,
  request: LaunchRequestFields,
  { live, source }: Facts,
  subnet: SubnetFacts,
  launches: LaunchService,
): Promise<string> {
  const instanceType = request.instanceType ?? live?.instanceType;
  if (!instanceType) {
    refuse(runbook, [
      {
        field: 'instanceType',
        message: `the source instance ${source.instanceId} no longer exists, so there is no type to carry; give {instanceType}`,
      },
    ]);
  }
  const type = instanceType as string;
  if (!(await launches.instanceTypeOffered(source.region, type, subnet.availabilityZone))) {
    refuse(runbook, [
      {
        field: 'instanceType',
        message: `${type}${request.instanceType ? '' : " (the source instance's)"} is not offered in ${subnet.availabilityZone}, so EC2 would refuse the launch; give {instanceType}, one offered there (aws ec2 describe-instance-type-offerings --location-type availability-zone --filters Name=location,Values=${subnet.availabilityZone})`,
      },
    ]);
  }
  return type;
}

async function pickKeyName(
  runbook: string,
  request: LaunchRequestFields,
  { live, source }: Facts,
  launches: LaunchService,
): Promise<string | undefined> {
  const keyName = request.keyName ?? live?.keyName;
  if (keyName && !(await launches.keyPairExists(source.region, keyName))) {
    refuse(runbook, [
      {
        field: 'keyName',
        message: `key pair ${keyName}${request.keyName ? '' : " (the source instance's)"} does not exist in ${source.region}; import it there or give {keyName}, one of ${source.region}`,
      },
    ]);
  }
  return keyName;
}
