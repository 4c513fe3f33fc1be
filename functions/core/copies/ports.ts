import type { ImageSnapshot } from '#core/backup/ports.ts';
import type { Config } from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import type { SnapshotState } from '#core/model/generation.ts';
import type { MarkKey } from '#core/model/mark.ts';
import type { Clock, Log, Tags } from '#core/model/ports.ts';

/** What DR copies need: EC2's cross-Region copies, the durable copy slots and the copy queue. */

/** A snapshot or AMI copy found in a DR Region by its tags, for adopting the work of a worker that died. */
export interface FoundCopy {
  /** From its `snapkeeper:source-snapshot` or `snapkeeper:source-image` tag. */
  sourceId: string;
  id: string;
  state: SnapshotState | 'available' | 'failed';
}

/** Cross-Region copies of snapshots and AMIs (`Ec2CopyService`). Every call is made in the destination Region. */
export interface CopyService {
  /** `CopySnapshot` from `sourceRegion` into `region`, re-encrypted with `kmsKeyId` when given, tagged at creation. */
  copySnapshot(request: {
    region: string;
    sourceRegion: string;
    sourceSnapshotId: string;
    kmsKeyId?: string;
    tags: Tags;
    description: string;
  }): Promise<string>;
  /** `CopyImage` into `region`, the image and its snapshots tagged at creation; `clientToken` makes it idempotent. */
  copyImage(request: {
    region: string;
    sourceRegion: string;
    sourceImageId: string;
    name: string;
    kmsKeyId?: string;
    tags: Tags;
    clientToken: string;
  }): Promise<string>;
  /** Copies in `region` tagged `snapkeeper:generation=<id>`: snapshots and images, each with its source id. */
  copiesOfGeneration(
    region: string,
    generationId: string,
  ): Promise<{ snapshots: FoundCopy[]; images: FoundCopy[] }>;
  /** States of these snapshots in `region`; a snapshot that does not exist is absent. */
  snapshotStates(region: string, snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>>;
  /** An image's state in `region` and the snapshots behind it; undefined when it does not exist. */
  image(
    region: string,
    imageId: string,
  ): Promise<{ state: 'pending' | 'available' | 'failed'; snapshots: ImageSnapshot[] } | undefined>;
}

/** Asking for the copy slot `key` in `region` for `holder` (see `CopySlots.acquire`). */
export interface SlotRequest {
  region: string;
  key: string;
  holder: string;
  limit: number;
  now: string;
  staleAfterMs: number;
}

/** What asking for a copy slot got. `acquired` includes finding the slot already ours (a retried message). */
export type SlotResult = 'acquired' | 'full' | 'busy';

/**
 * The in-flight copies per destination Region (`DynamoCopySlots`): a durable semaphore, so every worker in every
 * invocation sees one count. A slot is keyed by the copy it is for, so a retry finds its own slot again.
 */
export interface CopySlots {
  /**
   * Takes the slot `key` in `region` for `holder` if fewer than `limit` are held. `busy`: another holder has
   * held it for less than `staleAfterMs` (a duplicate message at work); an older one is taken over.
   */
  acquire(request: SlotRequest): Promise<SlotResult>;
  /** Frees these slots; freeing one nobody holds is not an error. */
  release(region: string, keys: readonly string[]): Promise<void>;
  /** Every slot held in `region`, by key, with when it was taken. */
  held(region: string): Promise<Map<string, { holder: string; acquiredAt: string }>>;
}

/** One unit of copy work: a generation to one Region. */
export interface CopyMessage {
  generationId: string;
  region: string;
}

/** SQS's longest message delay, in seconds: the longest a copy message waits in one hop. */
export const MAX_COPY_DELAY_SECONDS = 900;

/** The durable queue copies wait in (`SqsCopyQueue`). */
export interface CopyQueue {
  /** Sends each message, visible after `delaySeconds` (at most `MAX_COPY_DELAY_SECONDS`). */
  send(messages: readonly CopyMessage[], delaySeconds?: number): Promise<void>;
}

/** What one copy step needs; the copy-worker Lambda and the CLI's pump build it in `functions/wiring.ts`. */
export interface CopyDeps {
  config: Config;
  catalog: Catalog;
  copies: CopyService;
  slots: CopySlots;
  clock: Clock;
  log: Log;
  /** The key every copy is marked with (`core/model/mark.ts`). */
  markKey: MarkKey;
  /** Who holds the slots this step takes: unique per attempt, so a duplicate message is told apart. */
  holder: string;
  /** Spreads retries; seeded in tests and benchmarks. */
  random?: () => number;
}
