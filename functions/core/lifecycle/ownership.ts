import type { CopyRecord, Generation, SnapshotRecord } from '#core/model/generation.ts';
import { isMarkOf, type MarkFacts } from '#core/model/mark.ts';
import type { Ownership } from './ports.ts';
import { type Replica, whereOf } from './replica.ts';

/**
 * The mark check before a delete (`core/model/mark.ts`): every snapshot and AMI of a replica that EC2 still has
 * must carry the mark recomputed from EC2's own facts and the catalog record, or nothing of the replica goes.
 */

/** Why a replica is held: what an operator reads in `heldBecause` and the log. */
export function unmarkedReason(resourceId: string, replica: Replica): string {
  return `${resourceId}${whereOf(replica)} carries no valid snapkeeper mark: it was not created by snapkeeper, or was re-tagged; delete it by hand if it is yours (nothing of this generation is deleted meanwhile)`;
}

/**
 * The first of a replica's snapshots and AMIs (those EC2 still has) whose mark does not prove that snapkeeper
 * created it for this generation, in words; undefined when every one is proven.
 */
export function unmarked(
  replica: Replica,
  snapshots: ReadonlyMap<string, Ownership>,
  images: ReadonlyMap<string, Ownership | undefined>,
  secret: Uint8Array,
): string | undefined {
  const { generation } = replica;
  const copy =
    replica.kind === 'copy' ? generation.copies.find((c) => c.region === replica.region) : undefined;
  const resource = copy
    ? unmarkedCopy(generation, copy, snapshots, images, secret)
    : unmarkedPrimary(generation, snapshots, images, secret);
  return resource && unmarkedReason(resource, replica);
}

function unmarkedPrimary(
  generation: Generation,
  snapshots: ReadonlyMap<string, Ownership>,
  images: ReadonlyMap<string, Ownership | undefined>,
  secret: Uint8Array,
): string | undefined {
  for (const record of generation.snapshots) {
    const owner = snapshots.get(record.snapshotId);
    if (!owner) continue;
    const facts = snapshotFacts(generation, record, owner.volumeId);
    if (!facts || !isMarkOf(secret, facts, owner.mark) || !sameSource(record, owner, images)) {
      return record.snapshotId;
    }
  }
  for (const [imageId, owner] of images) {
    if (!owner) continue;
    const instanceId = imageInstance(generation, imageId);
    const facts: MarkFacts | undefined = instanceId
      ? { kind: 'image', generationId: generation.id, instanceId }
      : undefined;
    if (!facts || !isMarkOf(secret, facts, owner.mark)) return imageId;
  }
  return undefined;
}

/** A DR copy: every copied snapshot and AMI is marked for its source and the Region it was made in. */
function unmarkedCopy(
  generation: Generation,
  copy: CopyRecord,
  snapshots: ReadonlyMap<string, Ownership>,
  images: ReadonlyMap<string, Ownership | undefined>,
  secret: Uint8Array,
): string | undefined {
  const marked = (sourceId: string, owner: Ownership) =>
    isMarkOf(
      secret,
      { kind: 'copy', generationId: generation.id, sourceId, region: copy.region },
      owner.mark,
    );
  for (const copied of copy.snapshots) {
    const owner = copied.snapshotId ? snapshots.get(copied.snapshotId) : undefined;
    // A snapshot behind a copied AMI was made by CopyImage, under the AMI's tag specification and mark.
    if (owner && !marked(copied.viaImage ?? copied.sourceSnapshotId, owner)) return copied.snapshotId;
  }
  for (const image of copy.images) {
    const owner = image.imageId ? images.get(image.imageId) : undefined;
    if (owner && !marked(image.sourceImageId, owner)) return image.imageId;
  }
  return undefined;
}

/**
 * Whether EC2 itself ties the snapshot to what the catalog recorded, since a mark over an instance covers every
 * snapshot of it: EC2 lists it behind the generation's AMI, or its `VolumeId` is the volume the catalog names.
 */
function sameSource(
  record: SnapshotRecord,
  owner: Ownership,
  images: ReadonlyMap<string, Ownership | undefined>,
): boolean {
  const image = record.amiId ? images.get(record.amiId) : undefined;
  if (image?.snapshotIds?.includes(record.snapshotId)) return true;
  return owner.volumeId === record.volumeId;
}

/** What the create call of this snapshot named, by how the generation was taken (`backup/member-create.ts`). */
function snapshotFacts(
  generation: Generation,
  record: SnapshotRecord,
  volumeId: string | undefined,
): MarkFacts | undefined {
  const generationId = generation.id;
  if (generation.target.kind === 'volume' && !record.amiId) {
    return volumeId === undefined ? undefined : { kind: 'volume', generationId, volumeId };
  }
  const instanceId =
    record.instanceId ?? (generation.target.kind === 'instance' ? generation.target.id : undefined);
  if (!instanceId) return undefined;
  return { kind: record.amiId ? 'image' : 'instance', generationId, instanceId };
}

/** The instance an AMI of the generation was made of: the one its snapshots record, or the target's own. */
function imageInstance(generation: Generation, imageId: string): string | undefined {
  const behind = generation.snapshots.find((s) => s.amiId === imageId && s.instanceId);
  if (behind) return behind.instanceId;
  return generation.amiId === imageId && generation.target.kind === 'instance'
    ? generation.target.id
    : undefined;
}
