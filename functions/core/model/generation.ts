import { createHash } from 'node:crypto';

/** What a generation really is, per volume and as a whole (SPEC §2, guarantee 3). */
export type Consistency = 'application' | 'filesystem' | 'crash' | 'failed';

export type GenerationState = 'pending' | 'completed' | 'failed';

export type SnapshotState = 'pending' | 'completed' | 'error';

export type TargetKind = 'instance' | 'volume' | 'group';

export interface Target {
  kind: TargetKind;
  /** Instance id, volume id, or `group:<name>` for a consistency group. */
  id: string;
  /** The member instance ids of a consistency group, each also indexed as a target of the generation. */
  members?: string[];
}

/** One snapshot of one source volume inside a generation. */
export interface SnapshotRecord {
  volumeId: string;
  snapshotId: string;
  region: string;
  state: SnapshotState;
  consistency: Consistency;
  deviceName?: string;
  /** The instance the volume was attached to, for instance sets and group generations. */
  instanceId?: string;
  /** The AMI this snapshot backs: it may only ever be deleted together with that AMI. */
  amiId?: string;
  sizeGiB?: number;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  encrypted?: boolean;
  /** The source volume's user tags (no `aws:` keys), carried to whatever a restore creates. */
  volumeTags: Record<string, string>;
}

/**
 * Where one DR copy stands. `queued`: waiting in the copy queue for its turn and a slot; `pending`: copies started,
 * EC2 still copying; `completed`: every copy usable in the Region; `failed`: a copy EC2 refused for good (never a
 * quota: quotas wait), with the reason in `failure`.
 */
export type CopyState = 'queued' | 'pending' | 'completed' | 'failed';

/** The copy of one source snapshot in a DR Region. */
export interface CopiedSnapshot {
  sourceSnapshotId: string;
  volumeId: string;
  /** Absent until the copy was started. */
  snapshotId?: string;
  /** `waiting`: not started yet (no slot, or an older copy of the target still running). */
  state: 'waiting' | SnapshotState;
  /** The AMI this snapshot backs: its copy comes with the AMI's copy (`CopyImage`), never by `CopySnapshot`. */
  viaImage?: string;
  /** The device it images in that AMI, to find its copy behind the AMI's copy. */
  deviceName?: string;
}

/** The AMI copy of an AMI generation in a DR Region. */
export interface CopiedImage {
  sourceImageId: string;
  imageId?: string;
  state: 'waiting' | 'pending' | 'available' | 'failed';
}

/**
 * One generation's copy to one DR Region, with its own state, lag and retention: a copy outlives or precedes
 * the primary snapshots under its own keep rule.
 */
export interface CopyRecord {
  region: string;
  state: CopyState;
  /** The copies' snapshot ids in the Region, in the order of `snapshots` (SPEC §7's `snapshotIds`). */
  snapshotIds: string[];
  snapshots: CopiedSnapshot[];
  /** The AMI copies: one per AMI of the generation (a group generation has one per member). */
  images: CopiedImage[];
  kmsKeyId?: string;
  /** When the copy was queued, when its first copy started, and when the last one completed. */
  queuedAt: string;
  startedAt?: string;
  completedAt?: string;
  /** Copy lag: from the point in time the generation holds (`takenAt`) to the copy being usable, in seconds. */
  lagSeconds?: number;
  failure?: string;
  expiresAt?: string;
  retentionAppliedAt?: string;
  pruneStartedAt?: string;
  deletedAt?: string;
  heldBecause?: string;
  notes?: string[];
}

/** One point-in-time backup of one target from one run (SPEC §2). Times are ISO-8601 strings. */
export interface Generation {
  id: string;
  policy: string;
  schedule: string;
  target: Target;
  scheduledAt: string;
  /** When the create call was made: the point in time the snapshots hold. */
  takenAt?: string;
  /** When this run claimed the generation; a claim older than the lease may be taken over. */
  claimedAt: string;
  state: GenerationState;
  consistency: Consistency;
  snapshots: SnapshotRecord[];
  amiId?: string;
  freezeWindowMs?: number;
  copies: CopyRecord[];
  /** When retention stops keeping it; absent while a keep rule still keeps it. */
  expiresAt?: string;
  /** When retention last placed this generation in its lineage, once its outcome was final. */
  retentionAppliedAt?: string;
  /** When pruning began: a prune interrupted at any point resumes from here. */
  pruneStartedAt?: string;
  /** When its snapshots (and AMI) were deleted; the record stays as history. */
  deletedAt?: string;
  /** Why a due prune is held back: the interlock that holds it, in words. */
  heldBecause?: string;
  /** What was found out after the fact, e.g. a snapshot deleted outside snapkeeper. */
  notes?: string[];
  /** Why the generation failed, in words an operator can act on. */
  failure?: string;
  /** Bumped by every catalog write: concurrent writers (runs, reconcile, copy workers) never overwrite each other. */
  revision?: number;
  /** When writing its manifest last failed: the manifest may be stale until reconcile writes it again. */
  manifestStaleAt?: string;
}

/** Fields of a generation, as the catalog's `update` takes them. */
export type GenerationField = Exclude<keyof Generation, 'id'>;

/**
 * Whether reconcile still has something to do with a generation: advance it while pending, apply retention
 * once its outcome is final, and finish a prune that began; the same for each DR copy once it is final; and
 * write again a manifest whose last write failed. A copy
 * still queued or copying is the copy queue's work, not reconcile's. This is what puts it in the open-work index.
 */
export function hasOpenWork(generation: Generation): boolean {
  const primary =
    !generation.deletedAt &&
    (generation.state === 'pending' ||
      !generation.retentionAppliedAt ||
      generation.pruneStartedAt !== undefined);
  return primary || generation.copies.some(copyHasOpenWork) || generation.manifestStaleAt !== undefined;
}

export function copyHasOpenWork(copy: CopyRecord): boolean {
  if (copy.deletedAt) return false;
  return (isFinalCopy(copy) && !copy.retentionAppliedAt) || copy.pruneStartedAt !== undefined;
}

export function isFinalCopy(copy: CopyRecord): boolean {
  return copy.state === 'completed' || copy.state === 'failed';
}

/** The generation's copy in `region` that can be restored from: completed and not deleted. */
export function usableCopyIn(generation: Generation, region: string): CopyRecord | undefined {
  return generation.copies.find((c) => c.region === region && c.state === 'completed' && !c.deletedAt);
}

/**
 * The soonest expiry still to act on, the primary's or a copy's: what orders the generation in the expiry index.
 * Undefined when nothing of it has an expiry left.
 */
export function nextExpiry(generation: Generation): string | undefined {
  const expiries = [
    generation.deletedAt ? undefined : generation.expiresAt,
    ...generation.copies.map((c) => (c.deletedAt ? undefined : c.expiresAt)),
  ].filter((at): at is string => at !== undefined);
  return expiries.sort()[0];
}

/**
 * The generation id is derived from what identifies the run and the target, so a run delivered twice computes
 * the same id and the catalog's conditional write makes it one generation (guarantee 1). The time prefix keeps
 * ids readable and sortable; the hash keeps them short and unique.
 */
export function generationId(policy: string, schedule: string, scheduledAt: string, target: Target): string {
  const digest = createHash('sha256')
    .update([policy, schedule, scheduledAt, target.kind, target.id].join('\n'))
    .digest('hex')
    .slice(0, 10);
  const stamp = scheduledAt.replace(/[-:]/g, '').slice(0, 15);
  return `gen-${stamp}-${digest}`;
}

/** The generation state implied by its snapshots' states. */
export function stateFromSnapshots(snapshots: readonly SnapshotRecord[]): GenerationState {
  if (snapshots.length === 0) return 'failed';
  if (snapshots.some((s) => s.state === 'error')) return 'failed';
  return snapshots.every((s) => s.state === 'completed') ? 'completed' : 'pending';
}

/**
 * Why an outcome built on an older read of a generation must not be written over the record as it stands now,
 * or undefined when it may be: the claim was taken over since (the writer lost it), or the record was completed
 * with snapshots the outcome does not hold (a late writer with part of the set would replace the whole).
 */
export function outcomeSuperseded(current: Generation, outcome: Generation): string | undefined {
  if (current.claimedAt !== outcome.claimedAt) {
    return `generation ${current.id} was claimed again at ${current.claimedAt} by another delivery`;
  }
  const held = new Set(outcome.snapshots.map((s) => s.snapshotId));
  if (current.state === 'completed' && current.snapshots.some((s) => !held.has(s.snapshotId))) {
    return `generation ${current.id} was completed meanwhile with snapshots this outcome does not hold`;
  }
  return undefined;
}
