import {
  type _InstanceType,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '#adapters/clients.ts';
import { TAG } from '#core/model/tags.ts';
import type {
  ImageFacts,
  LaunchFacts,
  LaunchRequest,
  LaunchService,
  SubnetFacts,
} from '#core/recovery/ports.ts';
import { instanceFactsOf } from './instances.ts';
import { createCall, ec2Call, tagList, unlessMissing } from './snapshots.ts';
import { pollUntil, realSleeper, type Sleeper } from './waits.ts';

/** EC2 answers an id or name it does not know with these: the resource does not exist. */
const NOT_FOUND =
  /^Invalid(AMIID|Subnet(ID)?|Group|KeyPair|InstanceID|Instance)\.(NotFound|Malformed|Unavailable)$/;

/** States of an instance that is gone or going: a launch whose answer was lost is not one of these. */
const ENDED = new Set(['shutting-down', 'terminated']);

/** Images, networks and launches in any Region, for the restore-instance runbook. */
export class Ec2LaunchService implements LaunchService {
  constructor(
    private readonly clients: AwsClients,
    private readonly sleeper: Sleeper = realSleeper,
  ) {}

  async image(region: string, imageId: string): Promise<ImageFacts | undefined> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeImages', () =>
      this.clients.ec2(region).send(new DescribeImagesCommand({ ImageIds: [imageId] })),
    );
    const image = response?.Images?.[0];
    if (!image?.ImageId) return undefined;
    return {
      imageId: image.ImageId,
      state: image.State ?? 'unknown',
      ...(image.DeprecationTime ? { deprecationTime: new Date(image.DeprecationTime).toISOString() } : {}),
      ...(image.RootDeviceName ? { rootDeviceName: image.RootDeviceName } : {}),
    };
  }

  async subnet(region: string, subnetId: string): Promise<SubnetFacts | undefined> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeSubnets', () =>
      this.clients.ec2(region).send(new DescribeSubnetsCommand({ SubnetIds: [subnetId] })),
    );
    const subnet = response?.Subnets?.[0];
    if (!subnet?.SubnetId) return undefined;
    return {
      subnetId: subnet.SubnetId,
      vpcId: subnet.VpcId ?? '',
      availabilityZone: subnet.AvailabilityZone ?? '',
    };
  }

  /**
   * By a `group-id` filter, not `GroupIds`: EC2 fails the whole call for one unknown id in `GroupIds`, and the
   * plan wants to name each missing group.
   */
  async securityGroups(region: string, groupIds: readonly string[]) {
    const response = await ec2Call('DescribeSecurityGroups', () =>
      this.clients
        .ec2(region)
        .send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [...groupIds] }] })),
    );
    return (response.SecurityGroups ?? []).flatMap((g) =>
      g.GroupId ? [{ groupId: g.GroupId, vpcId: g.VpcId ?? '' }] : [],
    );
  }

  async keyPairExists(region: string, keyName: string): Promise<boolean> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeKeyPairs', () =>
      this.clients.ec2(region).send(new DescribeKeyPairsCommand({ KeyNames: [keyName] })),
    );
    return (response?.KeyPairs ?? []).some((k) => k.KeyName === keyName);
  }

  async instanceTypeOffered(
    region: string,
    instanceType: string,
    availabilityZone: string,
  ): Promise<boolean> {
    const response = await ec2Call('DescribeInstanceTypeOfferings', () =>
      this.clients.ec2(region).send(
        new DescribeInstanceTypeOfferingsCommand({
          LocationType: 'availability-zone',
          Filters: [
            { Name: 'location', Values: [availabilityZone] },
            { Name: 'instance-type', Values: [instanceType] },
          ],
        }),
      ),
    );
    return (response.InstanceTypeOfferings ?? []).some(
      (o) => o.InstanceType === instanceType && o.Location === availabilityZone,
    );
  }

  async launchFacts(region: string, instanceId: string): Promise<LaunchFacts | undefined> {
    const instance = await this.describeInstance(region, instanceId);
    if (!instance?.InstanceId || instance.State?.Name === 'terminated') return undefined;
    return launchFactsOf(instance);
  }

  /**
   * RunInstances, one instance, born tagged: the instance and the root volume EC2 makes from the AMI carry the
   * restore's tags from the first moment, so a crash before any later step still leaves them findable by
   * `snapkeeper:request`. `ClientToken` makes a resend (a lost answer, a retried Lambda) return the instance
   * the first send launched: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
   */
  launch(request: LaunchRequest): Promise<string> {
    return createCall('RunInstances', async () => {
      const profile = request.instanceProfile;
      const response = await this.clients.ec2(request.region).send(
        new RunInstancesCommand({
          ImageId: request.imageId,
          InstanceType: request.instanceType as _InstanceType,
          MinCount: 1,
          MaxCount: 1,
          SubnetId: request.subnetId,
          SecurityGroupIds: [...request.securityGroupIds],
          KeyName: request.keyName,
          ...(profile
            ? { IamInstanceProfile: profile.startsWith('arn:') ? { Arn: profile } : { Name: profile } }
            : {}),
          ClientToken: request.clientToken,
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tagList(request.tags) },
            { ResourceType: 'volume', Tags: tagList(request.tags) },
          ],
        }),
      );
      const instanceId = response.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error('RunInstances returned no instance id');
      return instanceId;
    });
  }

  async launchedBy(region: string, requestId: string): Promise<string[]> {
    const found: string[] = [];
    let nextToken: string | undefined;
    do {
      const response = await ec2Call('DescribeInstances', () =>
        this.clients.ec2(region).send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${TAG.request}`, Values: [requestId] },
              { Name: `tag:${TAG.managed}`, Values: ['true'] },
            ],
            NextToken: nextToken,
          }),
        ),
      );
      for (const reservation of response.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (instance.InstanceId && !ENDED.has(instance.State?.Name ?? '')) found.push(instance.InstanceId);
        }
      }
      nextToken = response.NextToken;
    } while (nextToken);
    return found;
  }

  async terminate(region: string, instanceId: string): Promise<void> {
    await ec2Call('TerminateInstances', () =>
      this.clients.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })),
    );
  }

  waitUntilTerminated(region: string, instanceId: string, timeoutMs: number): Promise<void> {
    return pollUntil({
      what: `instance ${instanceId}`,
      // EC2 forgets a terminated instance after about an hour: gone is terminated.
      read: async () => (await this.describeInstance(region, instanceId))?.State?.Name ?? 'terminated',
      done: ['terminated'],
      timeoutMs,
      sleeper: this.sleeper,
    });
  }

  private async describeInstance(region: string, instanceId: string): Promise<Instance | undefined> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeInstances', () =>
      this.clients.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    );
    return response?.Reservations?.[0]?.Instances?.[0];
  }
}

function launchFactsOf(instance: Instance): LaunchFacts {
  return {
    ...instanceFactsOf(instance),
    ...(instance.InstanceType ? { instanceType: instance.InstanceType } : {}),
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    ...(instance.VpcId ? { vpcId: instance.VpcId } : {}),
    securityGroupIds: (instance.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
    ...(instance.KeyName ? { keyName: instance.KeyName } : {}),
    ...(instance.IamInstanceProfile?.Arn ? { instanceProfileArn: instance.IamInstanceProfile.Arn } : {}),
  };
}
