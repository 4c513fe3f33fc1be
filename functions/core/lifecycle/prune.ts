import type { Config } from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { describeError, SnapshotInUseError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import type { MarkKey } from '#core/model/mark.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { anInterlockMemo, type InterlockMemo, interlock } from './interlocks.ts';
import { unmarked } from './ownership.ts';
import type { Ownership, Pruner } from './ports.ts';
import { type Replica, regionOf, replicasOf, whereOf, writeReplica } from './replica.ts';

export interface PruneDeps {
  config: Config;
  catalog: Catalog;
  pruner: Pruner;
  clock: Clock;
  log: Log;
  /** What proves a resource is snapkeeper's before it is deleted (`core/model/mark.ts`). */
  markKey: MarkKey;
}

/** What a pass did. Entries with a `region` are about that DR copy of the generation, not its primary snapshots. */
export interface PruneReport {
  pruned: { generationId: string; region?: string; snapshotIds: string[]; amiIds?: string[] }[];
  held: { generationId: string; region?: string; reason: string }[];
  notes: { generationId: string; note: string }[];
}

/** Generations at most pruned in one pass, so a pass fits comfortably in one Lambda invocation. */
const PASS_LIMIT = 200;

/** What one pass looks up once for all its replicas. */
interface Pass {
  now: string;
  memo: InterlockMemo;
  /** Ownership tags of every due snapshot (checked again by EC2 itself: IAM allows only managed ones). */
  owners: Map<string, Ownership>;
  /** The AMIs that use each due snapshot, where any does. */
  users: Map<string, string[]>;
}

/**
 * Deletes what retention says has expired, unless an interlock (SPEC §5.4) holds it: the primary snapshots and
 * each DR copy, each a replica with its own expiry, pruned on its own in its Region.
 */
export async function prune(deps: PruneDeps, resumable: readonly Generation[] = []): Promise<PruneReport> {
  const now = deps.clock.now().toISOString();
  const report: PruneReport = { pruned: [], held: [], notes: [] };
  const due = await deps.catalog.expiring(now, PASS_LIMIT);
  const candidates = [...resumable, ...due.filter((g) => !resumable.some((r) => r.id === g.id))];
  const replicas = candidates.flatMap((g) => dueReplicas(g, now, deps.config.region));
  const pass: Pass = { now, memo: anInterlockMemo(), ...(await lookUp(replicas, deps)) };
  for (const replica of replicas) {
    try {
      await pruneReplica(replica, deps, report, pass);
    } catch (error) {
      // An AMI registered from the snapshot since the pass looked: held like one found before, tried again later.
      if (error instanceof SnapshotInUseError) {
        const reason = inUseReason(replica, error.snapshotId, error.imageIds);
        await holdBack(replica, reason, deps, report);
        continue;
      }
      // One replica's trouble never stops the others; it stays due (or resumable) for the next pass.
      const generationId = replica.generation.id;
      deps.log.error('prune failed', { generationId, ...regionOf(replica), error });
      report.held.push({
        generationId,
        ...regionOf(replica),
        reason: `prune failed: ${describeError(error)}`,
      });
    }
  }
  return report;
}

/** The replicas of a generation due for pruning now: expired, or a prune of them began and must be finished. */
export function dueReplicas(generation: Generation, now: string, homeRegion: string): Replica[] {
  return replicasOf(generation, homeRegion).filter(
    (r) =>
      !r.deletedAt && (r.pruneStartedAt !== undefined || (r.expiresAt !== undefined && r.expiresAt <= now)),
  );
}

/**
 * What EC2 says of every snapshot of these replicas: whose it is by its tags, and which AMIs use it. Looked up
 * once a pass, by Region, in as few calls as the pruner allows.
 */
async function lookUp(
  replicas: readonly Replica[],
  { pruner, log }: PruneDeps,
): Promise<{ owners: Map<string, Ownership>; users: Map<string, string[]> }> {
  const byRegion = new Map<string, string[]>();
  for (const r of replicas) byRegion.set(r.region, [...(byRegion.get(r.region) ?? []), ...r.snapshotIds]);
  const owners = new Map<string, Ownership>();
  const users = new Map<string, string[]>();
  for (const [region, ids] of byRegion) {
    const found = await pruner.snapshotOwnership(region, ids);
    for (const [id, owner] of found) owners.set(id, owner);
    if (found.size === 0) continue;
    try {
      for (const [id, imageIds] of await pruner.imagesUsing(region, [...found.keys()]))
        users.set(id, imageIds);
    } catch (error) {
      // Not fatal: EC2 itself refuses to delete a snapshot an AMI uses, and that refusal holds the replica too.
      log.warn('images using snapshots not looked up', { region, error });
    }
  }
  return { owners, users };
}

/**
 * Prunes one due replica, crash-safe: `pruneStartedAt` is written before anything is deleted, deletes are
 * idempotent, and `deletedAt` is written last, so a prune interrupted at any point is finished by the next pass
 * without leaking or deleting twice. A resumed prune skips the interlocks (they let it go when it began), but
 * never EC2's word: only what the catalog records, and only while EC2 still shows it as this generation's (SPEC §3).
 */
async function pruneReplica(replica: Replica, deps: PruneDeps, report: PruneReport, pass: Pass) {
  const { now } = pass;
  const { generation, region } = replica;
  const hold = replica.pruneStartedAt ? undefined : await interlock(replica, now, deps, pass.memo);
  if (hold) return holdBack(replica, hold, deps, report);
  const started = await writeReplica(deps.catalog, replica, { pruneStartedAt: now });

  const owners = new Map(
    replica.snapshotIds.flatMap((id) => {
      const owner = pass.owners.get(id);
      return owner ? [[id, owner] as const] : [];
    }),
  );
  const images = new Map<string, Ownership | undefined>();
  for (const imageId of replica.imageIds)
    images.set(imageId, await deps.pruner.imageOwnership(region, imageId));
  const refusal =
    foreign(replica, owners, images) ??
    unmarked(replica, owners, images, await deps.markKey.secret()) ??
    inUse(replica, images, pass.users);
  if (refusal) {
    deps.log.warn('prune refused', { generationId: generation.id, ...regionOf(replica), reason: refusal });
    return holdBack(started, refusal, deps, report);
  }

  const notes = [...(replica.notes ?? [])];
  // On a resumed prune a missing resource may be one the interrupted pass deleted, so no one is blamed then.
  const gone = (what: string) => {
    const note = replica.pruneStartedAt
      ? `${what}${whereOf(replica)} was already gone when the interrupted prune resumed`
      : `${what}${whereOf(replica)} was already gone (deleted outside snapkeeper)`;
    notes.push(note);
    report.notes.push({ generationId: generation.id, note });
    deps.log.warn('prune note', { generationId: generation.id, ...regionOf(replica), note });
  };
  // An AMI and its snapshots go together, AMI first: EC2 will not delete a snapshot an AMI still uses.
  for (const [imageId, image] of images) {
    if (!image || (await deps.pruner.deregisterImage(region, imageId)) === 'gone') gone(`AMI ${imageId}`);
  }
  for (const snapshotId of replica.snapshotIds) {
    if (!owners.has(snapshotId) || (await deps.pruner.deleteSnapshot(region, snapshotId)) === 'gone') {
      gone(`snapshot ${snapshotId}`);
    }
  }

  // Written last: until it is, the replica stays open and the next pass finishes what this one began.
  await writeReplica(deps.catalog, started, {
    deletedAt: now,
    heldBecause: undefined,
    notes: notes.length ? notes : undefined,
  });
  const amiIds = [...images.keys()];
  deps.log.info('replica pruned', {
    generationId: generation.id,
    kind: replica.kind,
    region,
    snapshots: replica.snapshotIds.length,
    amiIds,
  });
  report.pruned.push({
    generationId: generation.id,
    ...regionOf(replica),
    snapshotIds: [...replica.snapshotIds],
    ...(amiIds.length ? { amiIds } : {}),
  });
}

async function holdBack(replica: Replica, reason: string, deps: PruneDeps, report: PruneReport) {
  report.held.push({ generationId: replica.generation.id, ...regionOf(replica), reason });
  await writeReplica(deps.catalog, replica, { heldBecause: reason });
}

/**
 * Why EC2's view of a replica's resources forbids deleting any of them; undefined when they are all this
 * generation's. A snapshot behind an AMI goes only with that AMI, so every AMI must be this generation's too.
 */
function foreign(
  replica: Replica,
  owners: Map<string, Ownership>,
  images: Map<string, Ownership | undefined>,
): string | undefined {
  const id = replica.generation.id;
  const resources = [
    ...[...owners].map(([resource, owner]) => ({ what: `snapshot ${resource}`, owner })),
    ...[...images].map(([resource, owner]) => ({ what: `AMI ${resource}`, owner })),
  ];
  const found = resources.find(({ owner }) => owner && (!owner.managed || owner.generationId !== id));
  if (!found) return undefined;
  return `${found.what}${whereOf(replica)} is not tagged as belonging to ${id}; refusing to delete anything of ${thisOne(replica)}`;
}

/**
 * Why an AMI that is not the replica's own forbids deleting it: a user registered one from its snapshot. EC2
 * would refuse the delete, and the AMI is not snapkeeper's to remove; so nothing is deleted until it is gone.
 */
function inUse(
  replica: Replica,
  images: Map<string, Ownership | undefined>,
  users: Map<string, string[]>,
): string | undefined {
  for (const snapshotId of replica.snapshotIds) {
    const others = (users.get(snapshotId) ?? []).filter((imageId) => !images.has(imageId));
    if (others.length > 0) return inUseReason(replica, snapshotId, others);
  }
  return undefined;
}

function inUseReason(replica: Replica, snapshotId: string, imageIds: readonly string[]): string {
  const amis = imageIds.length > 0 ? `AMI ${imageIds.join(', AMI ')}` : 'an AMI';
  return `snapshot ${snapshotId}${whereOf(replica)} is in use by ${amis}, which is not ${thisOne(replica)}'s; snapkeeper deletes nothing of it while that AMI exists: deregister it (or keep the snapshot), and a later pass finishes the prune`;
}

function thisOne(replica: Replica): string {
  return replica.kind === 'copy' ? 'this copy' : 'this generation';
}
