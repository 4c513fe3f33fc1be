import {
  AttachVolumeCommand,
  CreateTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type Instance,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '#adapters/clients.ts';
import type { Tags } from '#core/model/ports.ts';
import type { InstanceFacts, InstanceService, VolumeFacts } from '#core/recovery/ports.ts';
import { ec2Call, tagList, tagsOf, unlessMissing } from './snapshots.ts';
import { pollUntil, realSleeper, type Sleeper } from './waits.ts';

/** EC2 answers an id it does not know with these: the resource does not exist. */
const NOT_FOUND = /^Invalid(Volume|Instance)(ID)?\.(NotFound|Malformed)$/;

/** Instances and attachments, for the runbooks that swap volumes (replace-volume). */
export class Ec2InstanceService implements InstanceService {
  constructor(
    private readonly clients: AwsClients,
    private readonly sleeper: Sleeper = realSleeper,
  ) {}

  async volume(region: string, volumeId: string): Promise<VolumeFacts | undefined> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeVolumes', () =>
      this.clients.ec2(region).send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })),
    );
    const volume = response?.Volumes?.[0];
    if (!volume?.VolumeId) return undefined;
    const attachment = volume.Attachments?.find((a) => a.State !== 'detached');
    return {
      volumeId: volume.VolumeId,
      availabilityZone: volume.AvailabilityZone ?? '',
      state: volume.State ?? 'unknown',
      tags: tagsOf(volume.Tags),
      ...(attachment?.InstanceId
        ? {
            attachment: {
              instanceId: attachment.InstanceId,
              device: attachment.Device ?? '',
              state: attachment.State ?? 'unknown',
            },
          }
        : {}),
    };
  }

  async instance(region: string, instanceId: string): Promise<InstanceFacts | undefined> {
    const response = await unlessMissing(NOT_FOUND, 'DescribeInstances', () =>
      this.clients.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    );
    const instance = response?.Reservations?.[0]?.Instances?.[0];
    if (!instance?.InstanceId) return undefined;
    return instanceFactsOf(instance);
  }

  async stop(region: string, instanceId: string): Promise<void> {
    await ec2Call('StopInstances', () =>
      this.clients.ec2(region).send(new StopInstancesCommand({ InstanceIds: [instanceId] })),
    );
  }

  async start(region: string, instanceId: string): Promise<void> {
    await ec2Call('StartInstances', () =>
      this.clients.ec2(region).send(new StartInstancesCommand({ InstanceIds: [instanceId] })),
    );
  }

  waitForInstance(region: string, instanceId: string, state: 'running' | 'stopped', timeoutMs: number) {
    return pollUntil({
      what: `instance ${instanceId}`,
      read: async () => (await this.instance(region, instanceId))?.state ?? 'gone',
      done: [state],
      timeoutMs,
      sleeper: this.sleeper,
    });
  }

  async attach(region: string, volumeId: string, instanceId: string, device: string): Promise<void> {
    await ec2Call('AttachVolume', () =>
      this.clients
        .ec2(region)
        .send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
    );
  }

  async detach(region: string, volumeId: string, instanceId: string, device: string): Promise<void> {
    await ec2Call('DetachVolume', () =>
      this.clients
        .ec2(region)
        .send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
    );
  }

  waitForVolume(region: string, volumeId: string, state: 'available' | 'in-use', timeoutMs: number) {
    return pollUntil({
      what: `volume ${volumeId}`,
      read: async () => (await this.volume(region, volumeId))?.state ?? 'gone',
      done: [state],
      timeoutMs,
      sleeper: this.sleeper,
    });
  }

  async tagVolume(region: string, volumeId: string, tags: Tags): Promise<void> {
    await ec2Call('CreateTags', () =>
      this.clients.ec2(region).send(new CreateTagsCommand({ Resources: [volumeId], Tags: tagList(tags) })),
    );
  }

  async deleteVolume(region: string, volumeId: string): Promise<void> {
    await ec2Call('DeleteVolume', () =>
      this.clients.ec2(region).send(new DeleteVolumeCommand({ VolumeId: volumeId })),
    );
  }
}

/** What the runbooks read off a DescribeInstances answer's instance. */
export function instanceFactsOf(instance: Instance): InstanceFacts {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    availabilityZone: instance.Placement?.AvailabilityZone ?? '',
    tags: tagsOf(instance.Tags),
    devices: Object.fromEntries(
      (instance.BlockDeviceMappings ?? []).flatMap((m) =>
        m.DeviceName && m.Ebs?.VolumeId ? [[m.DeviceName, m.Ebs.VolumeId]] : [],
      ),
    ),
  };
}
