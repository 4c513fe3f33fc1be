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

/** A volume as a runbook that swaps volumes sees it. */
export interface VolumeFacts {
  volumeId: string;
  availabilityZone: string;
  /** `available`, `in-use`, `creating`, ... */
  state: string;
  tags: Tags;
  /** The instance it is attached to, if any (EBS volumes attach to one instance at a time here). */
  attachment?: { instanceId: string; device: string; state: string };
}

export interface InstanceFacts {
  instanceId: string;
  /** `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`. */
  state: string;
  availabilityZone: string;
  tags: Tags;
  /** Device name → volume id, as the instance lists its block devices. */
  devices: Record<string, string>;
}

/** What replacing a volume needs from EC2 beyond creating one: instances and attachments. */
export interface InstanceService {
  volume(region: string, volumeId: string): Promise<VolumeFacts | undefined>;
  instance(region: string, instanceId: string): Promise<InstanceFacts | undefined>;
  stop(region: string, instanceId: string): Promise<void>;
  start(region: string, instanceId: string): Promise<void>;
  /** Resolves when the instance is in `state`; fails with a `WaitTimeoutError` after `timeoutMs`. */
  waitForInstance(
    region: string,
    instanceId: string,
    state: 'running' | 'stopped',
    timeoutMs: number,
  ): Promise<void>;
  attach(region: string, volumeId: string, instanceId: string, device: string): Promise<void>;
  detach(region: string, volumeId: string, instanceId: string, device: string): Promise<void>;
  /** Resolves when the volume is `available` (detached) or `in-use` (attached). */
  waitForVolume(
    region: string,
    volumeId: string,
    state: 'available' | 'in-use',
    timeoutMs: number,
  ): Promise<void>;
  tagVolume(region: string, volumeId: string, tags: Tags): Promise<void>;
  deleteVolume(region: string, volumeId: string): Promise<void>;
}

/**
 * One request of a runbook that changes things in steps (replace-volume), kept in the catalog under its request
 * id: what the world was before (`plan`), how far it got, and how it ended. It makes the request idempotent (a
 * second delivery finds it and does not do the work again) and lets a delivery whose predecessor died finish
 * from the recorded starting state once that one's lease has run out.
 */
export interface RunbookRecord {
  runbook: string;
  requestId: string;
  state: 'in-progress' | 'completed' | 'rolled-back' | 'rollback-failed';
  /** The invocation carrying the request out, and until when it holds it. */
  owner: string;
  leaseUntil: string;
  startedAt: string;
  updatedAt: string;
  plan: Record<string, unknown>;
  progress: Record<string, unknown>;
  result?: Record<string, unknown>;
  failure?: string;
}

export interface RunbookJournal {
  get(runbook: string, requestId: string): Promise<RunbookRecord | undefined>;
  /** Writes the record unless its request already has one, which it returns instead. */
  begin(record: RunbookRecord): Promise<{ begun: true } | { begun: false; existing: RunbookRecord }>;
  /** Replaces the record if it is still held by `owner` (and its lease is `leaseUntil`); false otherwise. */
  save(record: RunbookRecord, held: { owner: string; leaseUntil: string }): Promise<boolean>;
}

/** An AMI as restore-instance checks it before launching from it (DescribeImages). */
export interface ImageFacts {
  imageId: string;
  /** `available`, `pending`, `failed`, `disabled`, `deregistered`, ... */
  state: string;
  /** When EC2 deprecates (or deprecated) it, ISO; absent when never. */
  deprecationTime?: string;
  rootDeviceName?: string;
}

export interface SubnetFacts {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
}

/** What a live instance launched with, which a restore of it carries unless the request overrides it. */
export interface LaunchFacts extends InstanceFacts {
  instanceType?: string;
  subnetId?: string;
  vpcId?: string;
  securityGroupIds: string[];
  keyName?: string;
  /** The ARN of its IAM instance profile. */
  instanceProfileArn?: string;
}

/** One instance to launch (RunInstances), born tagged. */
export interface LaunchRequest {
  region: string;
  imageId: string;
  instanceType: string;
  subnetId: string;
  securityGroupIds: readonly string[];
  keyName?: string;
  /** A profile name or ARN. */
  instanceProfile?: string;
  tags: Tags;
  /** RunInstances' ClientToken: the same token launches one instance, however often it is sent. */
  clientToken: string;
}

/** What restoring an instance needs from EC2 beyond volumes and attachments: images, networks, launches. */
export interface LaunchService {
  image(region: string, imageId: string): Promise<ImageFacts | undefined>;
  subnet(region: string, subnetId: string): Promise<SubnetFacts | undefined>;
  /** The security groups of `groupIds` that exist in `region`, each with its VPC. */
  securityGroups(region: string, groupIds: readonly string[]): Promise<{ groupId: string; vpcId: string }[]>;
  keyPairExists(region: string, keyName: string): Promise<boolean>;
  /** Whether EC2 offers the instance type in the zone (DescribeInstanceTypeOfferings); what RunInstances checks. */
  instanceTypeOffered(region: string, instanceType: string, availabilityZone: string): Promise<boolean>;
  launchFacts(region: string, instanceId: string): Promise<LaunchFacts | undefined>;
  /** Launches one instance; the same `clientToken` returns the instance it launched before. */
  launch(request: LaunchRequest): Promise<string>;
  /** Instances not terminated that carry `snapkeeper:request=<requestId>`: what a launch whose answer was lost made. */
  launchedBy(region: string, requestId: string): Promise<string[]>;
  terminate(region: string, instanceId: string): Promise<void>;
  waitUntilTerminated(region: string, instanceId: string, timeoutMs: number): Promise<void>;
}
