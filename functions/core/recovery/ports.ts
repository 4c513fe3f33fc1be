import type { Tags } from '#core/model/ports.ts';
import type { VolumeShape } from './volume-options.ts';

/** What restoring needs from EC2 beyond the catalog: volumes made from snapshots. */

/**
 * How far EBS has written a new volume's blocks from its snapshot (DescribeVolumeStatus's
 * `InitializationStatusDetails`). Until `initialized`, a read of a block not fetched yet waits for S3: the volume
 * is usable but slow, so an honest recovery time ends here, not at `available`.
 */
export type VolumeInitialization =
  | { state: 'initialized'; observedAt: string }
  | {
      state: 'initializing';
      observedAt: string;
      progressPercent?: number;
      /** Only volumes created with an initialization rate report an estimate. */
      estimatedInitializedAt?: string;
    }
  /** The endpoint does not report initialization (an emulator, or an older API): say so, never guess. */
  | { state: 'not-reported'; observedAt: string; reason: string };

export interface VolumeService {
  createVolume(
    request: VolumeShape & {
      region: string;
      snapshotId: string;
      availabilityZone: string;
      tags: Tags;
      idempotencyToken: string;
    },
  ): Promise<string>;
  /** Resolves when the volume is `available`; reports progress through `onWait`. */
  waitUntilAvailable(
    region: string,
    volumeId: string,
    options: { timeoutMs: number; onWait?: (state: string, waitedMs: number) => void },
  ): Promise<void>;
  /** Where the volume's initialization stands at `now`. */
  initialization(region: string, volumeId: string, now: Date): Promise<VolumeInitialization>;
  availabilityZones(region: string): Promise<string[]>;
}
