import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { Shape } from './faults.ts';

/** What IAM conditions can read of an existing resource a call acts on. */
export interface ResourceFacts {
  /** The resource's Region and id, e.g. `us-east-1` and `snap-0123`. */
  region: string;
  id: string;
  /** False when the resource was not there: the call fails in AWS whatever the role allows. */
  exists: boolean;
  /** Its tags: `ec2:ResourceTag/…`, `aws:ResourceTag/…`, `ssm:resourceTag/…`. */
  tags: Record<string, string>;
  /** A snapshot's or image's encryption key as EC2 reports it (an id, ARN or alias), when encrypted. */
  kmsKeyId?: string;
}

/** An existing resource a call names, found in its input. */
interface Target {
  kind: 'snapshot' | 'image' | 'instance' | 'volume';
  region: string;
  id: string;
}

/**
 * The existing resources whose tags or key IAM evaluates for a call, per the Service Authorization Reference:
 * the snapshot a volume is created from, the source of a copy (in its source Region), what is deleted or
 * deprecated, the AMI an instance is launched from, the instances a command is sent to, and the instances and
 * volumes a runbook stops, starts, terminates, attaches, detaches, tags or deletes.
 */
function targetsOf(service: string, action: string, region: string, input: Shape): Target[] {
  const id = (value: unknown) => (typeof value === 'string' ? [value] : []);
  const sourceRegion = typeof input.SourceRegion === 'string' ? input.SourceRegion : region;
  if (service === 'EC2') {
    switch (action) {
      case 'CreateVolume':
      case 'DeleteSnapshot':
        return id(input.SnapshotId).map((s) => ({ kind: 'snapshot', region, id: s }));
      case 'CopySnapshot':
        return id(input.SourceSnapshotId).map((s) => ({ kind: 'snapshot', region: sourceRegion, id: s }));
      case 'CopyImage':
        return id(input.SourceImageId).map((s) => ({ kind: 'image', region: sourceRegion, id: s }));
      case 'DeregisterImage':
      case 'EnableImageDeprecation':
      case 'RunInstances':
        return id(input.ImageId).map((s) => ({ kind: 'image', region, id: s }));
      case 'StopInstances':
      case 'StartInstances':
      case 'TerminateInstances':
        return ((input.InstanceIds ?? []) as string[]).map((s) => ({ kind: 'instance', region, id: s }));
      case 'AttachVolume':
      case 'DetachVolume':
        return [
          ...id(input.InstanceId).map((s) => ({ kind: 'instance' as const, region, id: s })),
          ...id(input.VolumeId).map((s) => ({ kind: 'volume' as const, region, id: s })),
        ];
      case 'DeleteVolume':
        return id(input.VolumeId).map((s) => ({ kind: 'volume', region, id: s }));
      case 'CreateTags':
        return ((input.Resources ?? []) as string[])
          .filter((s) => s.startsWith('vol-'))
          .map((s) => ({ kind: 'volume', region, id: s }));
    }
  }
  if (service === 'SSM' && action === 'SendCommand') {
    return ((input.InstanceIds ?? []) as string[]).map((s) => ({ kind: 'instance', region, id: s }));
  }
  return [];
}

/** Looks up, before the call, the tags and keys of the resources it acts on, keyed `<region>/<id>`. */
export async function resourceFacts(
  service: string,
  action: string,
  region: string,
  input: Shape,
): Promise<Record<string, ResourceFacts>> {
  const facts: Record<string, ResourceFacts> = {};
  for (const target of targetsOf(service, action, region, input)) {
    facts[`${target.region}/${target.id}`] = await lookUp(target);
  }
  return facts;
}

const clients = new Map<string, EC2Client>();

/** A plain client, outside every fault layer and recorder, so a lookup is neither faulted nor recorded. */
function ec2(region: string): EC2Client {
  let client = clients.get(region);
  if (!client) {
    client = new EC2Client({ region, maxAttempts: 1 });
    clients.set(region, client);
  }
  return client;
}

async function lookUp({ kind, region, id }: Target): Promise<ResourceFacts> {
  const found = (tags: Tag[] | undefined, kmsKeyId?: string): ResourceFacts => ({
    region,
    id,
    exists: true,
    tags: Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
    ...(kmsKeyId ? { kmsKeyId } : {}),
  });
  const missing: ResourceFacts = { region, id, exists: false, tags: {} };
  try {
    if (kind === 'snapshot') {
      const { Snapshots } = await ec2(region).send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }));
      const snapshot = Snapshots?.[0];
      return snapshot ? found(snapshot.Tags, snapshot.Encrypted ? snapshot.KmsKeyId : undefined) : missing;
    }
    if (kind === 'volume') {
      const { Volumes } = await ec2(region).send(new DescribeVolumesCommand({ VolumeIds: [id] }));
      return Volumes?.[0] ? found(Volumes[0].Tags) : missing;
    }
    if (kind === 'image') {
      const { Images } = await ec2(region).send(new DescribeImagesCommand({ ImageIds: [id] }));
      return Images?.[0] ? found(Images[0].Tags) : missing;
    }
    const { Reservations } = await ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const instance = Reservations?.[0]?.Instances?.[0];
    return instance ? found(instance.Tags) : missing;
  } catch (error) {
    // The emulator answers an unknown id with a NotFound error, as AWS does.
    if (/NotFound|Malformed/.test((error as Error).name)) return missing;
    throw error;
  }
}
