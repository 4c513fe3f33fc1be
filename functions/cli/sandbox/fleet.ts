import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  type EC2Client,
  RunInstancesCommand,
  waitUntilVolumeAvailable,
} from '@aws-sdk/client-ec2';
import { tagList } from '#adapters/ec2/snapshots.ts';
import type { Tags } from '#core/model/ports.ts';

/** Builders of a tagged fleet on the emulator, shared by `snapkeeper sandbox --fleet`, the integration tests, the
 * demo and benchmarks. */

export interface SeededInstance {
  instanceId: string;
  bootVolumeId: string;
  dataVolumeIds: string[];
}

const DATA_DEVICES = ['/dev/sdf', '/dev/sdg', '/dev/sdh', '/dev/sdi', '/dev/sdj'];

/** An instance with a boot volume and `dataVolumes` data volumes, each data volume carrying `volumeTags`. */
export async function anInstance(
  ec2: EC2Client,
  options: { tags?: Tags; dataVolumes?: number; volumeTags?: Tags[]; availabilityZone?: string } = {},
): Promise<SeededInstance> {
  const availabilityZone = options.availabilityZone ?? 'us-east-1a';
  const response = await ec2.send(
    new RunInstancesCommand({
      // The emulator accepts any image id; the AMI itself plays no part in snapshotting volumes.
      ImageId: 'ami-12345678',
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      Placement: { AvailabilityZone: availabilityZone },
      TagSpecifications:
        options.tags && Object.keys(options.tags).length > 0
          ? [{ ResourceType: 'instance', Tags: tagList(options.tags) }]
          : undefined,
    }),
  );
  const instance = response.Instances?.[0];
  const bootVolumeId = instance?.BlockDeviceMappings?.[0]?.Ebs?.VolumeId;
  if (!instance?.InstanceId || !bootVolumeId) throw new Error('the emulator launched no instance');
  const dataVolumeIds: string[] = [];
  for (let i = 0; i < (options.dataVolumes ?? 1); i++) {
    const volumeId = await aVolume(ec2, {
      tags: options.volumeTags?.[i] ?? {},
      availabilityZone,
      sizeGiB: 20 + i * 10,
    });
    await ec2.send(
      new AttachVolumeCommand({
        InstanceId: instance.InstanceId,
        VolumeId: volumeId,
        Device: DATA_DEVICES[i],
      }),
    );
    dataVolumeIds.push(volumeId);
  }
  return { instanceId: instance.InstanceId, bootVolumeId, dataVolumeIds };
}

/** A gp3 volume with `tags`. */
export async function aVolume(
  ec2: EC2Client,
  options: { tags?: Tags; availabilityZone?: string; sizeGiB?: number } = {},
): Promise<string> {
  const response = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: options.availabilityZone ?? 'us-east-1a',
      Size: options.sizeGiB ?? 10,
      VolumeType: 'gp3',
      TagSpecifications:
        options.tags && Object.keys(options.tags).length > 0
          ? [{ ResourceType: 'volume', Tags: tagList(options.tags) }]
          : undefined,
    }),
  );
  if (!response.VolumeId) throw new Error('the emulator created no volume');
  await waitUntilVolumeAvailable({ client: ec2, maxWaitTime: 30 }, { VolumeIds: [response.VolumeId] });
  return response.VolumeId;
}
