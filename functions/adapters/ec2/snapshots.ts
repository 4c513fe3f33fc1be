import {
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  type EC2Client,
  type Filter,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
  type Snapshot,
  type SnapshotInfo,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import { isThrottling } from '#adapters/throttling.ts';
import type {
  CreatedSnapshot,
  FoundSnapshot,
  InstanceInfo,
  Inventory,
  SnapshotService,
  VolumeInfo,
} from '#core/backup/ports.ts';
import { AwsOperationError, CreateOutcomeUnknownError, EndpointTimeoutError } from '#core/model/errors.ts';
import type { SnapshotState } from '#core/model/generation.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import type { Fleet, SnapshotSizes } from '#core/report/ports.ts';

/** EC2 accepts at most 200 values in one filter. */
export const FILTER_VALUES_MAX = 200;

export function tagsOf(tags: readonly Tag[] | undefined): Tags {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

export function tagList(tags: Tags): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/**
 * Server-side filter for a policy name inside a `snapkeeper:policy` list. EC2 filters match whole values with
 * `*` wildcards, so `*name*` narrows the result on the server and callers check membership exactly.
 */
function policyFilter(policy: string): Filter {
  return { Name: `tag:${TAG.policy}`, Values: [`*${policy}*`] };
}

/**
 * Our snapshots with these ids, in batches. A filter, not SnapshotIds: one snapshot deleted by hand must not
 * fail the lookup of all the others; it is simply absent from the result.
 */
export async function describeSnapshotsById(
  ec2: EC2Client,
  snapshotIds: readonly string[],
): Promise<Snapshot[]> {
  const found: Snapshot[] = [];
  for (let i = 0; i < snapshotIds.length; i += FILTER_VALUES_MAX) {
    const input = {
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: snapshotIds.slice(i, i + FILTER_VALUES_MAX) }],
    };
    await ec2Call('DescribeSnapshots', async () => {
      for await (const page of paginateDescribeSnapshots({ client: ec2 }, input))
        found.push(...(page.Snapshots ?? []));
    });
  }
  return found;
}

/** Filters for what these generations (at most `FILTER_VALUES_MAX`) created: tagged at creation with the id, and as ours. */
export function generationFilters(generationIds: string | readonly string[]): Filter[] {
  return [
    {
      Name: `tag:${TAG.generation}`,
      Values: typeof generationIds === 'string' ? [generationIds] : [...generationIds],
    },
    { Name: `tag:${TAG.managed}`, Values: ['true'] },
  ];
}

/** Runs an SDK call and turns its failure into an `AwsOperationError` that names the operation. */
export async function ec2Call<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    throw new AwsOperationError(operation, `${name}: ${message}`, { cause: error });
  }
}

/** `ec2Call` for a describe by id: an id EC2 does not know (`notFound` matches the error's name) is undefined. */
export async function unlessMissing<T>(
  notFound: RegExp,
  operation: string,
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (notFound.test((error as Error).name)) return undefined;
    return ec2Call(operation, () => Promise.reject(error));
  }
}

/**
 * `ec2Call` for a create: a failure that leaves unknown whether EC2 acted (no HTTP answer, a 5xx, a timeout, a reset
 * connection) becomes a `CreateOutcomeUnknownError`; one EC2 answered with a client error or throttling did not act.
 */
export async function createCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!outcomeUnknown(error)) return ec2Call(operation, () => Promise.reject(error));
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new CreateOutcomeUnknownError(operation, detail, { cause: error });
  }
}

function outcomeUnknown(error: unknown): boolean {
  if (error instanceof EndpointTimeoutError) return true;
  if (!(error instanceof Error)) return true;
  if (isThrottling(error)) return false;
  const { $metadata, $fault } = error as Error & {
    $metadata?: { httpStatusCode?: number };
    $fault?: string;
  };
  const status = $metadata?.httpStatusCode;
  return status === undefined || status >= 500 || $fault === 'server';
}

export class Ec2Inventory implements Inventory, Fleet {
  constructor(private readonly ec2: EC2Client) {}

  async allResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }> {
    const [instances, volumes] = await Promise.all([this.describeInstances([]), this.describeVolumes([])]);
    return { instances, volumes };
  }

  instancesTaggedFor(policy: string): Promise<InstanceInfo[]> {
    return this.describeInstances([policyFilter(policy)]);
  }

  async taggedResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }> {
    const tagged = [{ Name: 'tag-key', Values: [TAG.policy] }];
    const [instances, volumes] = await Promise.all([
      this.describeInstances(tagged),
      this.describeVolumes(tagged),
    ]);
    return { instances, volumes };
  }

  private describeInstances(filters: Filter[]): Promise<InstanceInfo[]> {
    return ec2Call('DescribeInstances', async () => {
      const instances: InstanceInfo[] = [];
      for await (const page of paginateDescribeInstances({ client: this.ec2 }, { Filters: filters })) {
        for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
          instances.push({
            instanceId: instance.InstanceId ?? '',
            state: instance.State?.Name ?? 'unknown',
            rootDeviceName: instance.RootDeviceName,
            platform: instance.Platform,
            tags: tagsOf(instance.Tags),
            volumes: (instance.BlockDeviceMappings ?? [])
              .filter((m) => m.Ebs?.VolumeId)
              .map((m) => ({ volumeId: m.Ebs?.VolumeId ?? '', deviceName: m.DeviceName ?? '' })),
          });
        }
      }
      return instances;
    });
  }

  async instances(instanceIds: readonly string[]): Promise<InstanceInfo[]> {
    const found: InstanceInfo[] = [];
    for (let i = 0; i < instanceIds.length; i += FILTER_VALUES_MAX) {
      const batch = instanceIds.slice(i, i + FILTER_VALUES_MAX);
      found.push(...(await this.describeInstances([{ Name: 'instance-id', Values: [...batch] }])));
    }
    return found;
  }

  volumesTaggedFor(policy: string): Promise<VolumeInfo[]> {
    return this.describeVolumes([policyFilter(policy)]);
  }

  async volumes(volumeIds: readonly string[]): Promise<VolumeInfo[]> {
    // A filter rather than VolumeIds: a volume deleted since the instance was described is simply absent,
    // where VolumeIds would fail the whole call.
    const found: VolumeInfo[] = [];
    for (let i = 0; i < volumeIds.length; i += FILTER_VALUES_MAX) {
      const batch = volumeIds.slice(i, i + FILTER_VALUES_MAX);
      found.push(...(await this.describeVolumes([{ Name: 'volume-id', Values: [...batch] }])));
    }
    return found;
  }

  private describeVolumes(filters: Filter[]): Promise<VolumeInfo[]> {
    return ec2Call('DescribeVolumes', async () => {
      const volumes: VolumeInfo[] = [];
      for await (const page of paginateDescribeVolumes({ client: this.ec2 }, { Filters: filters })) {
        volumes.push(...(page.Volumes ?? []).map(volumeInfo));
      }
      return volumes;
    });
  }
}

export function volumeInfo(volume: Volume): VolumeInfo {
  return {
    volumeId: volume.VolumeId ?? '',
    availabilityZone: volume.AvailabilityZone ?? '',
    sizeGiB: volume.Size ?? 0,
    volumeType: volume.VolumeType ?? 'gp3',
    iops: volume.Iops,
    throughput: volume.Throughput,
    encrypted: volume.Encrypted ?? false,
    state: volume.State ?? 'unknown',
    tags: tagsOf(volume.Tags),
    attachments: (volume.Attachments ?? []).map((a) => ({
      instanceId: a.InstanceId ?? '',
      deviceName: a.Device ?? '',
    })),
  };
}

function created(snapshot: Snapshot | SnapshotInfo): CreatedSnapshot {
  return {
    snapshotId: snapshot.SnapshotId ?? '',
    volumeId: snapshot.VolumeId ?? '',
    state: (snapshot.State ?? 'pending') as SnapshotState,
  };
}

export class Ec2SnapshotService implements SnapshotService {
  /** `creates` makes the snapshots (`AwsClients.ec2Creates`: it never retries an ambiguous failure). */
  constructor(
    private readonly ec2: EC2Client,
    private readonly creates: EC2Client = ec2,
  ) {}

  snapshotInstance(request: Parameters<SnapshotService['snapshotInstance']>[0]): Promise<CreatedSnapshot[]> {
    return createCall('CreateSnapshots', async () => {
      const response = await this.creates.send(
        new CreateSnapshotsCommand({
          InstanceSpecification: {
            InstanceId: request.instanceId,
            ExcludeBootVolume: request.excludeBootVolume,
            ExcludeDataVolumeIds:
              request.excludeVolumeIds.length > 0 ? [...request.excludeVolumeIds] : undefined,
          },
          Description: request.description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(request.tags) }],
          CopyTagsFromSource: request.copyVolumeTags ? 'volume' : undefined,
        }),
      );
      return (response.Snapshots ?? []).map(created);
    });
  }

  snapshotVolume(request: Parameters<SnapshotService['snapshotVolume']>[0]): Promise<CreatedSnapshot> {
    return createCall('CreateSnapshot', async () =>
      created(
        await this.creates.send(
          new CreateSnapshotCommand({
            VolumeId: request.volumeId,
            Description: request.description,
            TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(request.tags) }],
          }),
        ),
      ),
    );
  }

  async snapshotStates(snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>> {
    const found = await describeSnapshotsById(this.ec2, snapshotIds);
    return new Map(found.map((snapshot) => [snapshot.SnapshotId ?? '', created(snapshot).state]));
  }

  snapshotsOfGenerations(generationIds: readonly string[]): Promise<FoundSnapshot[]> {
    return ec2Call('DescribeSnapshots', async () => {
      const found: FoundSnapshot[] = [];
      for (let i = 0; i < generationIds.length; i += FILTER_VALUES_MAX) {
        const filters = generationFilters(generationIds.slice(i, i + FILTER_VALUES_MAX));
        const input = { OwnerIds: ['self'], Filters: filters };
        for await (const page of paginateDescribeSnapshots({ client: this.ec2 }, input)) {
          found.push(
            ...(page.Snapshots ?? []).map((snapshot): FoundSnapshot => {
              const tags = tagsOf(snapshot.Tags);
              const mark = tags[TAG.mark];
              return {
                ...created(snapshot),
                generationId: tags[TAG.generation] ?? '',
                startedAt: snapshot.StartTime?.toISOString() ?? '',
                ownerId: snapshot.OwnerId ?? '',
                ...(mark ? { mark } : {}),
              };
            }),
          );
        }
      }
      return found;
    });
  }
}

/** `FullSnapshotSizeInBytes` of our snapshots, where EC2 reports it (not every Region and API version does). */
export class Ec2SnapshotSizes implements SnapshotSizes {
  constructor(private readonly ec2: EC2Client) {}

  async fullSizes(snapshotIds: readonly string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const snapshot of await describeSnapshotsById(this.ec2, [...new Set(snapshotIds)])) {
      if (snapshot.SnapshotId && snapshot.FullSnapshotSizeInBytes !== undefined)
        sizes.set(snapshot.SnapshotId, snapshot.FullSnapshotSizeInBytes);
    }
    return sizes;
  }
}
