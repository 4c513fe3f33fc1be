import type { CatalogWriter } from '#core/model/catalog.ts';
import type { CopyRecord, Generation, GenerationState } from '#core/model/generation.ts';

/**
 * What retention and pruning see of a generation: its replicas. The primary replica is the generation's own
 * snapshots (and AMIs) in the Region it was taken in; each DR copy is a replica in its Region. Both kinds carry
 * the same lifecycle fields under the same names, so retention, the interlocks and the crash-safe delete are
 * written once, over this view, and a small writer maps each change back to the record it came from.
 */

/** The lifecycle fields a replica carries, named alike on a generation and on a copy record. */
export type Lifecycle = Pick<
  CopyRecord & Generation,
  'expiresAt' | 'retentionAppliedAt' | 'pruneStartedAt' | 'deletedAt' | 'heldBecause' | 'notes'
>;

export type LifecycleField = keyof Lifecycle;

export interface Replica extends Readonly<Lifecycle> {
  /** The generation as read; the primary's next write builds on its revision. */
  readonly generation: Generation;
  readonly kind: 'primary' | 'copy';
  /** Where its snapshots and AMIs are. */
  readonly region: string;
  /** A copy still queued or copying is `pending`: its outcome is not final. */
  readonly state: GenerationState;
  readonly snapshotIds: readonly string[];
  readonly imageIds: readonly string[];
}

/** The generation's own snapshots and AMIs (those of its snapshots too: a group has one per member). */
export function primaryOf(generation: Generation, homeRegion: string): Replica {
  const imageIds = [generation.amiId, ...generation.snapshots.map((s) => s.amiId)].filter(
    (id): id is string => id !== undefined,
  );
  return {
    ...lifecycleOf(generation),
    generation,
    kind: 'primary',
    region: generation.snapshots[0]?.region ?? homeRegion,
    state: generation.state,
    snapshotIds: generation.snapshots.map((s) => s.snapshotId),
    imageIds: [...new Set(imageIds)],
  };
}

/** One DR copy of the generation, in its Region. */
export function copyOf(generation: Generation, copy: CopyRecord): Replica {
  const state = copy.state === 'completed' || copy.state === 'failed' ? copy.state : 'pending';
  return {
    ...lifecycleOf(copy),
    generation,
    kind: 'copy',
    region: copy.region,
    state,
    snapshotIds: copy.snapshotIds,
    imageIds: copy.images.flatMap((i) => (i.imageId ? [i.imageId] : [])),
  };
}

/** The primary first, then each DR copy. */
export function replicasOf(generation: Generation, homeRegion: string): Replica[] {
  return [primaryOf(generation, homeRegion), ...generation.copies.map((c) => copyOf(generation, c))];
}

/** The generation's replica of the same kind (and Region) as `like`; undefined when it has none. */
export function counterpartIn(generation: Generation, like: Replica): Replica | undefined {
  if (like.kind === 'primary') return primaryOf(generation, like.region);
  const copy = generation.copies.find((c) => c.region === like.region);
  return copy && copyOf(generation, copy);
}

/**
 * The one time that orders retention everywhere: the generation's `scheduledAt`. Every catalog index sorts by
 * it (so a page read newest first is exactly retention's order, and the count rule and the keep-newest interlock
 * read the same lineage), the generation id derives from it, and every generation has it, even one that never
 * took a snapshot. Its weakness, that it comes from the event that started the run, is covered by `isAhead`.
 */
export function timeOf(replica: Replica): string {
  return replica.generation.scheduledAt;
}

/**
 * Whether the replica's time lies after `now`: a wrong clock, a forged record, a `run --at` in the future.
 * Such a replica is not counted by retention, is never the newest of its target, and is held until its time.
 */
export function isAhead(replica: Replica, now: string): boolean {
  return timeOf(replica) > now;
}

/** How report entries and messages name the replica: nothing extra for the primary, the Region for a copy. */
export function regionOf(replica: Replica): { region?: string } {
  return replica.kind === 'copy' ? { region: replica.region } : {};
}

/** `generation`, or `copy in <Region>`: what a reason calls the replica. */
export function nounOf(replica: Replica): string {
  return replica.kind === 'copy' ? `copy in ${replica.region}` : 'generation';
}

/** Where a resource of the replica is, in words: nothing for the primary (its Region is the home Region). */
export function whereOf(replica: Replica): string {
  return replica.kind === 'copy' ? ` in ${replica.region}` : '';
}

/**
 * Fields that never change once recorded: retention never moves an expiry nor places twice, a prune keeps the
 * time it began (its resumption depends on it), and a deletion is final.
 */
const WRITE_ONCE: readonly LifecycleField[] = [
  'expiresAt',
  'retentionAppliedAt',
  'pruneStartedAt',
  'deletedAt',
];

/**
 * Writes a change to a replica's lifecycle: the generation's `update` for the primary, `updateCopy` for a copy.
 * A field set to undefined is cleared. A deleted replica is never written, a write-once field already recorded
 * keeps its value, and nothing is written when nothing changes. A copy's record is checked as the catalog holds
 * it at the write; the primary's as read. Resolves with the replica as written.
 */
export async function writeReplica(
  catalog: CatalogWriter,
  replica: Replica,
  change: Lifecycle,
): Promise<Replica> {
  if (replica.kind === 'primary') {
    const fields = changed(replica, change);
    if (replica.deletedAt || fields.length === 0) return replica;
    const next: Generation = { ...replica.generation, ...pick(change, fields) };
    await catalog.update(next, fields);
    return primaryOf(next, replica.region);
  }
  const written = await catalog.updateCopy(replica.generation.id, replica.region, (current) => {
    if (!current || current.deletedAt) return undefined;
    const fields = changed(current, change);
    return fields.length > 0 ? { ...current, ...pick(change, fields) } : undefined;
  });
  const copy = written?.copies.find((c) => c.region === replica.region);
  return written && copy ? copyOf(written, copy) : replica;
}

function changed(current: Lifecycle, change: Lifecycle): LifecycleField[] {
  return (Object.keys(change) as LifecycleField[]).filter((field) => {
    const value = change[field];
    if (WRITE_ONCE.includes(field) && (current[field] !== undefined || value === undefined)) return false;
    return JSON.stringify(current[field]) !== JSON.stringify(value);
  });
}

function pick(change: Lifecycle, fields: readonly LifecycleField[]): Lifecycle {
  return Object.fromEntries(fields.map((f) => [f, change[f]]));
}

function lifecycleOf(record: Lifecycle): Lifecycle {
  const { expiresAt, retentionAppliedAt, pruneStartedAt, deletedAt, heldBecause, notes } = record;
  return { expiresAt, retentionAppliedAt, pruneStartedAt, deletedAt, heldBecause, notes };
}
