/** What the lifecycle (retention and pruning) needs of EC2, beyond the catalog. */

/**
 * What EC2 says a resource is, right now: its ownership tags, its mark, and for a snapshot the volume EC2 itself
 * reports it was taken from. Tags alone are never enough to delete (anyone with `ec2:CreateTags` writes them);
 * the mark is, when it is the one recomputed from EC2's facts and the catalog record (`./ownership.ts`).
 */
export interface Ownership {
  managed: boolean;
  generationId?: string;
  /** The `snapkeeper:mark` tag; absent when the resource carries none. */
  mark?: string;
  /** A snapshot's `VolumeId` as DescribeSnapshots reports it (never a tag); absent for an AMI. */
  volumeId?: string;
  /** An AMI's snapshots as DescribeImages lists them behind it; absent for a snapshot. */
  snapshotIds?: string[];
}

/** EC2 as pruning needs it. Every delete is idempotent: a resource already gone is reported, not an error. */
export interface Pruner {
  /** Ownership tags, marks and EC2's VolumeIds of these snapshots; a snapshot that no longer exists is absent. */
  snapshotOwnership(region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>>;
  /** Ownership tags, mark and listed snapshots of an AMI; undefined when it no longer exists. */
  imageOwnership(region: string, imageId: string): Promise<Ownership | undefined>;
  /**
   * The AMIs in `region` registered from these snapshots, by snapshot id (only those some AMI uses): EC2 will not
   * delete a snapshot while an AMI uses it, and an AMI a user registered from one of ours is not ours to remove.
   */
  imagesUsing(region: string, snapshotIds: readonly string[]): Promise<Map<string, string[]>>;
  /** Throws `SnapshotInUseError` (`core/model/errors.ts`) when an AMI still uses the snapshot. */
  deleteSnapshot(region: string, snapshotId: string): Promise<'deleted' | 'gone'>;
  deregisterImage(region: string, imageId: string): Promise<'deregistered' | 'gone'>;
  /** Which of these instances and volumes still exist (terminated instances do not). */
  existingTargets(targetIds: readonly string[]): Promise<Set<string>>;
}
