import type { CopyRecord, Generation, GenerationField, SnapshotState } from './generation.ts';

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
  /** Every instance and volume that carries a `snapkeeper:policy` tag at all: what the plan checks for problems. */
  taggedResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }>;
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
   * consistency, AMI, freeze window, failure and notes (cleared when absent), and indexes it by each source volume.
   */
  recordOutcome(generation: Generation): Promise<void>;
  recordFailure(generationId: string, failure: string): Promise<void>;
  /**
   * Marks the generation's manifest stale (`{ at }`: its write failed then), which puts the generation in the
   * open-work index; or clears the mark (`{ clearIf }`) only if it is still the one set at that time, so a
   * failure marked meanwhile is not lost. Allowed on a deleted generation: its last manifest matters most.
   */
  markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void>;
  /**
   * Writes the named fields of a generation (set when defined, removed when not); never a deleted one. When
   * someone else wrote the record since it was read, the fields are written onto the record as it is now.
   * Sets the passed generation's `revision` to the one written, so the caller's next write builds on it.
   */
  update(generation: Generation, fields: readonly GenerationField[]): Promise<void>;
  /**
   * Changes one Region's copy record: `change` gets the copy as the catalog holds it now (undefined when there is
   * none) and returns the new one, or undefined to leave it as it is. It may be called again with a fresher
   * record when another writer got there first. Allowed after the primary snapshots were deleted: a copy has its
   * own life. Resolves with the generation as written, or undefined when it does not exist.
   */
  updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined>;
  /** Generations whose expiry is at or before this ISO time and that are not deleted, soonest first. */
  expiring(atOrBefore: string, limit?: number): Promise<Generation[]>;
  /** Newest first: the generations of one target, policy and schedule, the unit retention counts in. */
  lineage(targetId: string, policy: string, schedule: string, query?: GenerationQuery): Promise<Generation[]>;
  get(generationId: string): Promise<Generation | undefined>;
  /** Generations that still have work to do (`hasOpenWork`), oldest first, from the sparse open-work index. */
  openGenerations(limit?: number): Promise<Generation[]>;
  /** Newest first. */
  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]>;
  /** Newest first by scheduledAt: every generation holding a snapshot of this volume (standalone or in an
   * instance set). `atOrBefore` bounds scheduledAt; callers that need the point in time check takenAt. */
  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]>;
  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]>;
  audit(entry: AuditEntry): Promise<void>;
}

/** Where an SSM command stands on one instance. `pending` covers every not-yet-final state, including SSM's
 * `InvocationDoesNotExist` in the moments after `SendCommand`. */
export type AgentCommandState =
  | { state: 'pending' }
  | { state: 'succeeded'; output: string }
  | { state: 'failed'; reason: string };

/** One freeze or thaw sent to one instance. The adapter picks the SSM document from `mode` and `windows`. */
export interface AgentCommand {
  instanceId: string;
  action: 'freeze' | 'thaw';
  mode: 'filesystem' | 'script';
  windows: boolean;
  /** The user's document, for `script` mode. */
  scriptDocument?: string;
  /** The on-instance watchdog thaws this long after the freeze, whatever else happens. */
  timeoutSeconds: number;
  /** ISO time after which the instance must refuse to freeze: a freeze delivered late never runs. */
  notAfter: string;
}

/** Freeze and thaw through the SSM agent on the instances (`SsmFreezeAgent`). */
export interface FreezeAgent {
  /** Those of these instances whose SSM agent is registered and online now. */
  onlineAgents(instanceIds: readonly string[]): Promise<Set<string>>;
  /** Sends the command; resolves with its id once SSM accepted it. */
  send(command: AgentCommand): Promise<string>;
  status(commandId: string, instanceId: string): Promise<AgentCommandState>;
}

/** A snapshot behind an AMI, by the device it images. */
export interface ImageSnapshot {
  deviceName: string;
  snapshotId: string;
  state: SnapshotState;
}

/** An AMI found by its `snapkeeper:generation` tag: what a run that died after `CreateImage` left behind. */
export interface GenerationImage {
  imageId: string;
  /** From its `snapkeeper:source-instance` tag. */
  instanceId?: string;
  /** The snapshots behind it, by device; empty while EC2 has not listed them yet. */
  snapshots: ImageSnapshot[];
}

/** AMIs of instances (`Ec2ImageService`). */
export interface ImageService {
  /** `CreateImage` with NoReboot, the image and its snapshots tagged at creation; devices listed are left out. */
  createImage(request: {
    instanceId: string;
    name: string;
    description: string;
    tags: Tags;
    excludeDeviceNames: readonly string[];
  }): Promise<string>;
  /** The snapshots behind an AMI; empty while EC2 has not listed them yet. */
  imageSnapshots(imageId: string): Promise<ImageSnapshot[]>;
  /** AMIs of ours tagged `snapkeeper:generation=<id>`, so a redelivered run adopts an image instead of making two. */
  imagesOfGeneration(generationId: string): Promise<GenerationImage[]>;
  /** Marks the AMI deprecated from `at` (ISO). */
  deprecate(imageId: string, at: string): Promise<void>;
}

/** The invocation's own time limit: a Lambda's `getRemainingTimeInMillis`, or unlimited for the CLI. */
export interface Deadline {
  remainingMs(): number;
}

/** Waiting, as a port, so the core never touches timers and unit tests wait on a fake clock. */
export interface Timer {
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A snapshot or AMI copy found in a DR Region by its tags, for adopting the work of a worker that died. */
export interface FoundCopy {
  /** From its `snapkeeper:source-snapshot` or `snapkeeper:source-image` tag. */
  sourceId: string;
  id: string;
  state: SnapshotState | 'available' | 'failed';
}

/** Why EC2 would not start a copy now. `limit`: the Region's concurrent-copy quota is full; `throttled`: the
 * API rate; both are waited out, never recorded as failures. `refused`: for good (source gone, key unusable). */
export type CopyRefusal = 'limit' | 'throttled' | 'refused';

/** Raised by `CopyService` when EC2 refuses to start a copy. */
export class CopyRefusedError extends Error {
  override readonly name = 'CopyRefusedError';
  constructor(
    readonly refusal: CopyRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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
