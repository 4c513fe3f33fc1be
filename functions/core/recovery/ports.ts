import type { Tags } from '#core/model/ports.ts';

/** What restoring needs from EC2 beyond the catalog: volumes made from snapshots. */

export interface VolumeService {
  createVolume(request: {
    region: string;
    snapshotId: string;
    availabilityZone: string;
    volumeType?: string;
    iops?: number;
    throughput?: number;
    kmsKeyId?: string;
    tags: Tags;
    idempotencyToken: string;
  }): Promise<string>;
  /** Resolves when the volume is `available`; reports progress through `onWait`. */
  waitUntilAvailable(
    region: string,
    volumeId: string,
    options: { timeoutMs: number; onWait?: (state: string, waitedMs: number) => void },
  ): Promise<void>;
  availabilityZones(region: string): Promise<string[]>;
}
