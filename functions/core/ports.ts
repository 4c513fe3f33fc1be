import type { Generation, SnapshotState } from './generation.ts';

/** The small interfaces the core needs, in domain words. Adapters in `functions/adapters/` implement them. */

export interface Clock {
  now(): Date;
}

/** Structured logging with constant messages and data in keys. */
export interface Log {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export type Tags = Record<string, string>;

export interface VolumeInfo {
  volumeId: string;
  availabilityZone: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  state: string;
  tags: Tags;
  attachments: { instanceId: string; deviceName: string }[];
}

export interface InstanceInfo {
  instanceId: string;
  state: string;
  rootDeviceName?: string;
  platform?: string;
  tags: Tags;
  /** Volumes attached now, with their device names, as DescribeInstances reports them. */
  volumes: { volumeId: string; deviceName: string }[];
}

/** Read side of EC2: what is tagged, found with server-side tag filters and full pagination. */
export interface Inventory {
  instancesTaggedFor(policy: string): Promise<InstanceInfo[]>;
  volumesTaggedFor(policy: string): Promise<VolumeInfo[]>;
  volumes(volumeIds: readonly string[]): Promise<VolumeInfo[]>;
}

export interface CreatedSnapshot {
  snapshotId: string;
  volumeId: string;
  state: SnapshotState;
}

export interface SnapshotService {
  /** One crash-consistent multi-volume set (`CreateSnapshots`), tagged at creation. */
  snapshotInstance(request: {
    instanceId: string;
    excludeBootVolume: boolean;
    excludeVolumeIds: readonly string[];
    tags: Tags;
    copyVolumeTags: boolean;
    description: string;
  }): Promise<CreatedSnapshot[]>;
  /** One snapshot of one volume (`CreateSnapshot`), tagged at creation. */
  snapshotVolume(request: { volumeId: string; tags: Tags; description: string }): Promise<CreatedSnapshot>;
  /** Current states of these snapshots; a snapshot that no longer exists is absent from the result. */
  snapshotStates(snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>>;
  /** Snapshots that carry `snapkeeper:generation=<id>`: how a crashed run's work is found again. */
  snapshotsOfGeneration(generationId: string): Promise<CreatedSnapshot[]>;
}

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

/** Outcome of trying to claim a generation for a run. */
export type ClaimResult = { claimed: true } | { claimed: false; existing: Generation };

export interface GenerationQuery {
  /** Only generations taken at or before this ISO time. */
  atOrBefore?: string;
  limit?: number;
}

export interface AuditEntry {
  at: string;
  action: string;
  actor: string;
  dryRun: boolean;
  request: Record<string, unknown>;
  result: Record<string, unknown>;
}

/** The generation catalog. `DynamoCatalog` is the only code that knows the key layout. */
export interface Catalog {
  /** Creates the generation unless one with its id exists (the idempotency of runs). */
  claim(generation: Generation): Promise<ClaimResult>;
  /** Takes over a stale or failed claim with no snapshots, only if nobody else did since `previousClaimedAt`. */
  takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean>;
  /**
   * Records what a run or reconcile established about a generation: its snapshots, `takenAt`, state,
   * consistency, AMI, freeze window and failure (cleared when absent), and indexes it by each source volume.
   */
  recordOutcome(generation: Generation): Promise<void>;
  recordFailure(generationId: string, failure: string): Promise<void>;
  get(generationId: string): Promise<Generation | undefined>;
  /** Generations that still have work to do (pending), oldest first, from the sparse open-work index. */
  openGenerations(limit?: number): Promise<Generation[]>;
  /** Newest first. */
  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]>;
  /** Newest first by scheduledAt: every generation holding a snapshot of this volume (standalone or in an
   * instance set). `atOrBefore` bounds scheduledAt; callers that need the point in time check takenAt. */
  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]>;
  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]>;
  audit(entry: AuditEntry): Promise<void>;
}
