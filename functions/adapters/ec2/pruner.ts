import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  paginateDescribeImages,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '#adapters/clients.ts';
import type { Ownership, Pruner } from '#core/lifecycle/ports.ts';
import { AwsOperationError, SnapshotInUseError } from '#core/model/errors.ts';
import { TAG } from '#core/model/tags.ts';
import { snapshotsOf } from './images.ts';
import { describeSnapshotsById, Ec2Inventory, ec2Call, FILTER_VALUES_MAX, tagsOf } from './snapshots.ts';

const GONE = new Set([
  'InvalidSnapshot.NotFound',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
  'InvalidAMIID.Malformed',
]);

function isInUse(error: unknown): boolean {
  return error instanceof Error && error.name === 'InvalidSnapshot.InUse';
}

function ownership(tags: Record<string, string>, volumeId?: string): Ownership {
  const mark = tags[TAG.mark];
  return {
    managed: tags[TAG.managed] === 'true',
    generationId: tags[TAG.generation],
    ...(mark === undefined ? {} : { mark }),
    ...(volumeId === undefined ? {} : { volumeId }),
  };
}

/** EC2 reads and deletes for pruning. Deletes treat "already gone" as an answer, never as a failure. */
export class Ec2Pruner implements Pruner {
  constructor(
    private readonly clients: AwsClients,
    private readonly primaryRegion: string,
  ) {}

  async snapshotOwnership(region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>> {
    const found = await describeSnapshotsById(this.clients.ec2(region), snapshotIds);
    // VolumeId as EC2 reports it, not from a tag: the mark is checked against what EC2 itself knows.
    return new Map(found.map((s) => [s.SnapshotId ?? '', ownership(tagsOf(s.Tags), s.VolumeId)]));
  }

  async imageOwnership(region: string, imageId: string): Promise<Ownership | undefined> {
    const response = await this.gone('DescribeImages', () =>
      this.clients.ec2(region).send(new DescribeImagesCommand({ ImageIds: [imageId] })),
    );
    const image = response === 'gone' ? undefined : response.Images?.[0];
    if (!image) return undefined;
    // The snapshots EC2 lists behind it: what ties an AMI's snapshots to the AMI's mark.
    return { ...ownership(tagsOf(image.Tags)), snapshotIds: snapshotsOf(image).map((s) => s.snapshotId) };
  }

  async imagesUsing(region: string, snapshotIds: readonly string[]): Promise<Map<string, string[]>> {
    const ec2 = this.clients.ec2(region);
    const wanted = new Set(snapshotIds);
    const users = new Map<string, string[]>();
    for (let i = 0; i < snapshotIds.length; i += FILTER_VALUES_MAX) {
      const Filters = [
        { Name: 'block-device-mapping.snapshot-id', Values: snapshotIds.slice(i, i + FILTER_VALUES_MAX) },
      ];
      await ec2Call('DescribeImages', async () => {
        for await (const page of paginateDescribeImages({ client: ec2 }, { Owners: ['self'], Filters })) {
          for (const image of page.Images ?? []) {
            for (const mapping of image.BlockDeviceMappings ?? []) {
              const id = mapping.Ebs?.SnapshotId;
              if (!id || !wanted.has(id) || !image.ImageId) continue;
              users.set(id, [...new Set([...(users.get(id) ?? []), image.ImageId])]);
            }
          }
        }
      });
    }
    return users;
  }

  async deleteSnapshot(region: string, snapshotId: string): Promise<'deleted' | 'gone'> {
    try {
      const result = await this.gone('DeleteSnapshot', () =>
        this.clients.ec2(region).send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })),
      );
      return result === 'gone' ? 'gone' : 'deleted';
    } catch (error) {
      // EC2 names one AMI in its message at most; asking which use it names them all, in the project's words.
      if (!(error instanceof AwsOperationError) || !isInUse(error.cause)) throw error;
      const users = await this.imagesUsing(region, [snapshotId]).catch(() => new Map<string, string[]>());
      throw new SnapshotInUseError(snapshotId, users.get(snapshotId) ?? [], { cause: error });
    }
  }

  async deregisterImage(region: string, imageId: string): Promise<'deregistered' | 'gone'> {
    const result = await this.gone('DeregisterImage', () =>
      this.clients.ec2(region).send(new DeregisterImageCommand({ ImageId: imageId })),
    );
    return result === 'gone' ? 'gone' : 'deregistered';
  }

  async existingTargets(targetIds: readonly string[]): Promise<Set<string>> {
    const ec2 = this.clients.ec2(this.primaryRegion);
    const found = new Set<string>();
    const instances = targetIds.filter((id) => id.startsWith('i-'));
    const volumes = targetIds.filter((id) => id.startsWith('vol-'));
    for (let i = 0; i < instances.length; i += FILTER_VALUES_MAX) {
      const Filters = [
        { Name: 'instance-id', Values: instances.slice(i, i + FILTER_VALUES_MAX) },
        {
          Name: 'instance-state-name',
          Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'],
        },
      ];
      await ec2Call('DescribeInstances', async () => {
        for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters })) {
          for (const r of page.Reservations ?? [])
            for (const x of r.Instances ?? []) found.add(x.InstanceId ?? '');
        }
      });
    }
    for (const volume of await new Ec2Inventory(ec2).volumes(volumes)) found.add(volume.volumeId);
    return found;
  }

  /** Runs a call; a "does not exist" answer becomes `'gone'`, anything else fails as an AwsOperationError. */
  private async gone<T>(operation: string, call: () => Promise<T>): Promise<T | 'gone'> {
    return ec2Call(operation, async () => {
      try {
        return await call();
      } catch (error) {
        if (error instanceof Error && GONE.has(error.name)) return 'gone' as const;
        throw error;
      }
    });
  }
}
