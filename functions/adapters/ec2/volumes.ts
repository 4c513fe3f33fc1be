import {
  CreateVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeVolumeStatusCommand,
  DescribeVolumesCommand,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '#adapters/clients.ts';
import { AwsOperationError } from '#core/model/errors.ts';
import type { VolumeInitialization, VolumeService } from '#core/recovery/ports.ts';
import { ec2Call, tagList } from './snapshots.ts';
import { pollUntil, realSleeper, type Sleeper } from './waits.ts';

/** Creates volumes from snapshots in any Region, for the restore runbooks. */
export class Ec2VolumeService implements VolumeService {
  constructor(
    private readonly clients: AwsClients,
    private readonly sleeper: Sleeper = realSleeper,
  ) {}

  createVolume(request: Parameters<VolumeService['createVolume']>[0]): Promise<string> {
    return ec2Call('CreateVolume', async () => {
      const response = await this.clients.ec2(request.region).send(
        new CreateVolumeCommand({
          SnapshotId: request.snapshotId,
          AvailabilityZone: request.availabilityZone,
          VolumeType: request.volumeType as VolumeType | undefined,
          Iops: request.iops,
          Throughput: request.throughput,
          Size: request.sizeGiB,
          VolumeInitializationRate: request.initializationRate,
          KmsKeyId: request.kmsKeyId,
          Encrypted: request.kmsKeyId ? true : undefined,
          // The same restore request retried (a Lambda retry, a re-run CLI) returns the same volume, not a second.
          ClientToken: request.idempotencyToken,
          TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(request.tags) }],
        }),
      );
      if (!response.VolumeId) throw new Error('CreateVolume returned no volume id');
      return response.VolumeId;
    });
  }

  waitUntilAvailable(
    region: string,
    volumeId: string,
    options: Parameters<VolumeService['waitUntilAvailable']>[2],
  ): Promise<void> {
    return pollUntil({
      what: `volume ${volumeId}`,
      read: async () => {
        const response = await ec2Call('DescribeVolumes', () =>
          this.clients.ec2(region).send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })),
        );
        return response.Volumes?.[0]?.State ?? 'unknown';
      },
      done: ['available', 'in-use'],
      failed: ['error'],
      onFailed: () =>
        new AwsOperationError('CreateVolume', `volume ${volumeId} entered state error while being created`),
      timeoutMs: options.timeoutMs,
      sleeper: this.sleeper,
      onWait: options.onWait,
    });
  }

  /**
   * DescribeVolumeStatus's initialization details. An endpoint that does not implement the call or leaves the
   * details out (moto answers HTTP 500) reports nothing, and the runbook says so instead of guessing.
   */
  async initialization(region: string, volumeId: string, now: Date): Promise<VolumeInitialization> {
    const observedAt = now.toISOString();
    let details: { Progress?: number; EstimatedTimeToCompleteInSeconds?: number } | undefined;
    try {
      const response = await this.clients
        .ec2(region)
        .send(new DescribeVolumeStatusCommand({ VolumeIds: [volumeId] }));
      details = response.VolumeStatuses?.[0]?.InitializationStatusDetails;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const reason =
        status && status >= 500
          ? `DescribeVolumeStatus answered HTTP ${status}: the endpoint does not implement it`
          : `DescribeVolumeStatus failed: ${(error as Error).name}: ${(error as Error).message.split('\n')[0]}`;
      return { state: 'not-reported', observedAt, reason };
    }
    if (!details || details.Progress === undefined) {
      return {
        state: 'not-reported',
        observedAt,
        reason: 'DescribeVolumeStatus returned no InitializationStatusDetails for the volume',
      };
    }
    if (details.Progress >= 100) return { state: 'initialized', observedAt };
    const left = details.EstimatedTimeToCompleteInSeconds;
    return {
      state: 'initializing',
      observedAt,
      progressPercent: details.Progress,
      ...(left !== undefined
        ? { estimatedInitializedAt: new Date(now.getTime() + left * 1000).toISOString() }
        : {}),
    };
  }

  availabilityZones(region: string): Promise<string[]> {
    return ec2Call('DescribeAvailabilityZones', async () => {
      const response = await this.clients.ec2(region).send(new DescribeAvailabilityZonesCommand({}));
      return (response.AvailabilityZones ?? []).map((zone) => zone.ZoneName ?? '').filter(Boolean);
    });
  }
}
