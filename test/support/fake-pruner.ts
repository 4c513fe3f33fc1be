import type { Ownership, Pruner } from '#core/lifecycle/ports.ts';
import { SnapshotInUseError } from '#core/model/errors.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import type { FakeEc2 } from './fakes.ts';

/** Pruning over a `FakeEc2`'s snapshots, with images of its own; records each delete in order. */
export class FakePruner implements Pruner {
  readonly images = new Map<string, Tags>();
  /** AMIs someone registered from snapshots (a user's, not snapkeeper's): image id → the snapshots behind it. */
  readonly registered = new Map<string, string[]>();
  /** Set to register this AMI from the snapshot just before the first delete of it, as a user racing the prune. */
  registerBeforeDelete?: { imageId: string; snapshotId: string };
  /** The snapshots EC2 lists behind an image, when a test says; absent otherwise. */
  readonly imageSnapshots = new Map<string, string[]>();
  readonly deletes: string[] = [];
  /** Set to throw on the n-th delete (1-based), to interrupt a prune half-way. */
  failOnDelete?: number;

  constructor(private readonly ec2: FakeEc2) {}

  async snapshotOwnership(_region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>> {
    await Promise.resolve();
    const owners = new Map<string, Ownership>();
    for (const id of snapshotIds) {
      const snapshot = this.ec2.snapshots.get(id);
      if (snapshot) owners.set(id, ownership(snapshot.tags, snapshot.volumeId));
    }
    return owners;
  }

  async imageOwnership(_region: string, imageId: string): Promise<Ownership | undefined> {
    await Promise.resolve();
    const tags = this.images.get(imageId);
    const listed = this.imageSnapshots.get(imageId);
    return tags && { ...ownership(tags), ...(listed ? { snapshotIds: listed } : {}) };
  }

  async imagesUsing(_region: string, snapshotIds: readonly string[]): Promise<Map<string, string[]>> {
    await Promise.resolve();
    const users = new Map<string, string[]>();
    for (const [imageId, behind] of this.registered) {
      for (const id of behind.filter((s) => snapshotIds.includes(s)))
        users.set(id, [...(users.get(id) ?? []), imageId]);
    }
    return users;
  }

  async deleteSnapshot(region: string, snapshotId: string): Promise<'deleted' | 'gone'> {
    this.interrupt(snapshotId);
    if (this.registerBeforeDelete?.snapshotId === snapshotId) {
      this.registered.set(this.registerBeforeDelete.imageId, [snapshotId]);
      this.registerBeforeDelete = undefined;
    }
    const users = (await this.imagesUsing(region, [snapshotId])).get(snapshotId);
    if (users) throw new SnapshotInUseError(snapshotId, users);
    this.deletes.push(snapshotId);
    return this.ec2.snapshots.delete(snapshotId) ? 'deleted' : 'gone';
  }

  async deregisterImage(_region: string, imageId: string): Promise<'deregistered' | 'gone'> {
    this.interrupt(imageId);
    await Promise.resolve();
    this.deletes.push(imageId);
    return this.images.delete(imageId) ? 'deregistered' : 'gone';
  }

  async existingTargets(targetIds: readonly string[]): Promise<Set<string>> {
    await Promise.resolve();
    return new Set(targetIds.filter((id) => this.ec2.instanceMap.has(id) || this.ec2.volumeMap.has(id)));
  }

  private interrupt(id: string): void {
    if (this.failOnDelete === undefined) return;
    if (this.deletes.length + 1 === this.failOnDelete) {
      this.failOnDelete = undefined;
      throw new Error(`interrupted before deleting ${id}`);
    }
  }
}

/** As `Ec2Pruner` reads it: the tags, the mark tag, and the snapshot's own volume id (not a tag). */
function ownership(tags: Tags, volumeId?: string): Ownership {
  return {
    managed: tags[TAG.managed] === 'true',
    generationId: tags[TAG.generation],
    ...(tags[TAG.mark] === undefined ? {} : { mark: tags[TAG.mark] }),
    ...(volumeId === undefined ? {} : { volumeId }),
  };
}
