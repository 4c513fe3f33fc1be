import type { SnapshotState } from '#core/model/generation.ts';
import type { Tags } from '#core/model/ports.ts';

/** What taking a backup needs from EC2 and SSM: the inventory, snapshots, AMIs and the freeze agent. */

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
  /** These instances as they are now; one that no longer exists (terminated long ago) is absent. */
  instances(instanceIds: readonly string[]): Promise<InstanceInfo[]>;
  /** Every instance and volume that carries a `snapkeeper:policy` tag at all: what the plan checks for problems. */
  taggedResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }>;
}

export interface CreatedSnapshot {
  snapshotId: string;
  volumeId: string;
  state: SnapshotState;
}

/**
 * A snapshot found by its `snapkeeper:generation` tag, with what EC2 itself says about it. Tags can be written by
 * anyone allowed to tag, so adoption trusts only EC2's own fields: the volume, the start time and the owner.
 */
export interface FoundSnapshot extends CreatedSnapshot {
  /** From its `snapkeeper:generation` tag. */
  generationId: string;
  /** EC2's `StartTime`, ISO. */
  startedAt: string;
  /** EC2's `OwnerId`: the account the snapshot belongs to. */
  ownerId: string;
  /** Its `snapkeeper:mark` tag, absent when it has none: adoption recomputes it (`core/model/mark.ts`). */
  mark?: string;
}

/** The account snapkeeper runs in (`StsAccount`): what adoption compares a found resource's owner with. */
export interface Account {
  accountId(): Promise<string>;
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
  /** Snapshots that carry `snapkeeper:generation=<id>` for any of these ids: how a crashed run's work is found again. */
  snapshotsOfGenerations(generationIds: readonly string[]): Promise<FoundSnapshot[]>;
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
  /** Names one freeze on the instance: its thaw carries the same id, and thaws that freeze only. */
  freezeId: string;
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
  /** From its `snapkeeper:source-instance` tag (anyone allowed to tag can write it). */
  instanceId?: string;
  /** EC2's `SourceInstanceId`: the instance `CreateImage` imaged, set by EC2 itself. */
  sourceInstanceId?: string;
  /** EC2's `OwnerId` and `CreationDate` (ISO). */
  ownerId: string;
  createdAt: string;
  /** Its `snapkeeper:mark` tag, absent when it has none. */
  mark?: string;
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
