/** What the lifecycle (retention and pruning) needs of EC2, beyond the catalog. */

/** What EC2 says a resource is, by its tags, right now. */
export interface Ownership {
  managed: boolean;
  generationId?: string;
}

/** EC2 as pruning needs it. Every delete is idempotent: a resource already gone is reported, not an error. */
export interface Pruner {
  /** Ownership tags of these snapshots; a snapshot that no longer exists is absent. */
  snapshotOwnership(region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>>;
  /** Ownership tags of an AMI; undefined when it no longer exists. */
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
