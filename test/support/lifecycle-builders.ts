import type { Config } from '#core/config/config.ts';
import { type PruneReport, prune } from '#core/lifecycle/prune.ts';
import { type ReconcileDeps, reconcile } from '#core/lifecycle/reconcile.ts';
import type {
  CopiedImage,
  CopiedSnapshot,
  CopyRecord,
  CopyState,
  Generation,
  SnapshotRecord,
  Target,
} from '#core/model/generation.ts';
import { markOf } from '#core/model/mark.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { TEST_MARK_SECRET } from './fake-mark-key.ts';
import { aGeneration, anId, aVolume, aWorld } from './fakes.ts';

/**
 * Builders for the generation lifecycle (retention, prune, reconcile, plan): generations placed on a calendar,
 * their snapshots and AMIs registered in the fake EC2 with the tags a run would have written, and a small
 * seeded PRNG for generated lineages.
 */

export type World = ReturnType<typeof aWorld>;

const DAY_MS = 86_400_000;

/** `2026-11-<day>T03:00:00.000Z` shifted by `days` from 2026-11-01: the instant a daily run is scheduled. */
export function dayAt(days: number, time = '03:00:00.000'): string {
  return new Date(Date.parse(`2026-11-01T${time}Z`) + days * DAY_MS).toISOString();
}

/** Adds `days` to an ISO instant. */
export function plusDays(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * DAY_MS).toISOString();
}

/** The tags a run writes on every snapshot and AMI of a generation (SPEC §3). */
export function ourTags(generation: Generation): Tags {
  return {
    [TAG.managed]: 'true',
    [TAG.policy]: generation.policy,
    [TAG.schedule]: generation.schedule,
    [TAG.generation]: generation.id,
  };
}

/** The mark a run writes on a snapshot of a generation: over its volume, or the instance of its set or AMI. */
export function snapshotMark(generation: Generation, snapshot: SnapshotRecord): string {
  const generationId = generation.id;
  if (generation.target.kind === 'volume' && !snapshot.amiId) {
    return markOf(TEST_MARK_SECRET, { kind: 'volume', generationId, volumeId: snapshot.volumeId });
  }
  const instanceId = snapshot.instanceId ?? generation.target.id;
  return markOf(TEST_MARK_SECRET, { kind: snapshot.amiId ? 'image' : 'instance', generationId, instanceId });
}

/** The mark a run writes on an AMI of a generation (a group's member AMIs name their own instance). */
export function imageMark(generation: Generation, amiId: string): string {
  const instanceId = generation.snapshots.find((s) => s.amiId === amiId)?.instanceId ?? generation.target.id;
  return markOf(TEST_MARK_SECRET, { kind: 'image', generationId: generation.id, instanceId });
}

/** The mark a copy worker writes on a DR copy of `sourceId` (a snapshot, or the AMI a snapshot came with). */
export function copyMark(generation: Generation, sourceId: string, region: string): string {
  return markOf(TEST_MARK_SECRET, { kind: 'copy', generationId: generation.id, sourceId, region });
}

/**
 * A generation of `volumeId` scheduled on day `day` (of November 2026) and taken 5 seconds later, completed,
 * with retention applied; pass `expiresAt` to make it due.
 */
export function aGenerationOn(
  day: number,
  fields: Partial<Generation> & { volumeId?: string; volumes?: number } = {},
): Generation {
  const { volumes = 1, ...rest } = fields;
  const scheduledAt = rest.scheduledAt ?? dayAt(day);
  const takenAt = rest.takenAt ?? new Date(Date.parse(scheduledAt) + 5_000).toISOString();
  const generation = aGeneration({ retentionAppliedAt: takenAt, ...rest, scheduledAt, takenAt });
  const first = generation.snapshots[0] as SnapshotRecord;
  const extra = Array.from({ length: volumes - 1 }, () => ({
    ...structuredClone(first),
    volumeId: anId('vol'),
    snapshotId: anId('snap'),
  }));
  return { ...generation, snapshots: [first, ...extra] };
}

/**
 * Records generations in the catalog and makes their snapshots (and AMIs), and those of their DR copies, exist in
 * EC2, tagged as ours unless `tags` says otherwise (per snapshot id or AMI id).
 */
export function store(
  world: World,
  generations: Generation[],
  options: { tags?: Record<string, Tags>; missing?: string[] } = {},
): void {
  world.catalog.seed(...generations);
  for (const generation of generations) {
    for (const snapshot of generation.snapshots) {
      if (options.missing?.includes(snapshot.snapshotId)) continue;
      world.ec2.snapshots.set(snapshot.snapshotId, {
        snapshotId: snapshot.snapshotId,
        volumeId: snapshot.volumeId,
        state: snapshot.state,
        tags: options.tags?.[snapshot.snapshotId] ?? {
          ...ourTags(generation),
          [TAG.mark]: snapshotMark(generation, snapshot),
        },
        description: `snapkeeper ${generation.id}`,
      });
    }
    if (generation.amiId && !options.missing?.includes(generation.amiId)) {
      world.pruner.images.set(
        generation.amiId,
        options.tags?.[generation.amiId] ?? {
          ...ourTags(generation),
          [TAG.mark]: imageMark(generation, generation.amiId),
        },
      );
    }
    // DR copies too: `FakePruner` does not tell Regions apart, so their ids share the one fake EC2.
    for (const copy of generation.copies) {
      if (copy.deletedAt) continue;
      for (const s of copy.snapshots) {
        if (!s.snapshotId || options.missing?.includes(s.snapshotId)) continue;
        world.ec2.snapshots.set(s.snapshotId, {
          snapshotId: s.snapshotId,
          volumeId: s.volumeId,
          state: s.state === 'error' ? 'error' : s.state === 'completed' ? 'completed' : 'pending',
          tags: options.tags?.[s.snapshotId] ?? {
            ...copyTagsOf(generation, s.sourceSnapshotId, s.volumeId),
            [TAG.mark]: copyMark(generation, s.viaImage ?? s.sourceSnapshotId, copy.region),
          },
          description: `snapkeeper ${generation.id} copy of ${s.sourceSnapshotId}`,
        });
      }
      for (const image of copy.images) {
        if (!image.imageId || options.missing?.includes(image.imageId)) continue;
        world.pruner.images.set(
          image.imageId,
          options.tags?.[image.imageId] ?? {
            ...ourTags(generation),
            [TAG.mark]: copyMark(generation, image.sourceImageId, copy.region),
          },
        );
      }
    }
  }
}

/**
 * A world at `now` whose volume still exists, with one completed generation of it on day 19 (`newest`): the
 * generation the interlocks keep, so older ones of the volume may be pruned.
 */
export function withVolume(config: Config, now: string) {
  const world = aWorld({ config, now });
  const volume = aVolume();
  world.ec2.add(volume);
  const newest = aGenerationOn(19, { volumeId: volume.volumeId });
  return { ...world, volumeId: volume.volumeId, newest };
}

/** The tags a copy worker writes on a DR copy of one of a generation's snapshots. */
export function copyTagsOf(generation: Generation, sourceSnapshotId: string, volumeId: string): Tags {
  return {
    ...ourTags(generation),
    [TAG.sourceSnapshot]: sourceSnapshotId,
    [TAG.sourceVolume]: volumeId,
    [TAG.sourceRegion]: 'us-east-1',
  };
}

/** A snapshot of EC2 as a test can compare it: ids, states and tags. */
export function ec2Contents(world: World) {
  return {
    snapshots: world.ec2
      .allSnapshots()
      .map((s) => structuredClone(s))
      .sort((a, b) => a.snapshotId.localeCompare(b.snapshotId)),
    images: [...world.pruner.images.entries()].sort(([a], [b]) => a.localeCompare(b)),
  };
}

/**
 * A generation's copy to `region` in `state`, consistent with the generation: each of its snapshots maps, by
 * index, to `snapshotIds[i]` (made up when not given, for a copy that has started), and each of its AMIs to an
 * image copy. Queued at `takenAt`, started then, completed ten minutes later (`lagSeconds` 600); a final copy
 * has retention applied, like `aGenerationOn`. `extra` overrides any field.
 */
export function aCopy(
  generation: Generation,
  region: string,
  state: CopyState,
  snapshotIds?: readonly (string | undefined)[],
  extra: Partial<CopyRecord> = {},
): CopyRecord {
  const queuedAt = generation.takenAt ?? generation.scheduledAt;
  const completedAt = new Date(Date.parse(queuedAt) + 600_000).toISOString();
  const started = state !== 'queued';
  const ids = snapshotIds ?? (started ? generation.snapshots.map(() => anId('snap')) : []);
  const snapshotState = (
    { queued: 'waiting', pending: 'pending', completed: 'completed', failed: 'error' } as const
  )[state];
  const snapshots = generation.snapshots.map((s, i): CopiedSnapshot => {
    const snapshotId = ids[i];
    return {
      sourceSnapshotId: s.snapshotId,
      volumeId: s.volumeId,
      ...(snapshotId ? { snapshotId } : {}),
      state: snapshotState,
      ...(s.amiId ? { viaImage: s.amiId, ...(s.deviceName ? { deviceName: s.deviceName } : {}) } : {}),
    };
  });
  const amiIds = [
    ...new Set(
      [generation.amiId, ...generation.snapshots.map((s) => s.amiId)].filter((id) => id !== undefined),
    ),
  ];
  const imageState = (
    { queued: 'waiting', pending: 'pending', completed: 'available', failed: 'failed' } as const
  )[state];
  const images = amiIds.map(
    (sourceImageId): CopiedImage => ({
      sourceImageId,
      ...(started ? { imageId: anId('snap').replace('snap-', 'ami-') } : {}),
      state: imageState,
    }),
  );
  const final = state === 'completed' || state === 'failed';
  return {
    region,
    state,
    snapshotIds: snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : [])),
    snapshots,
    images,
    queuedAt,
    ...(started ? { startedAt: queuedAt } : {}),
    ...(state === 'completed' ? { completedAt, lagSeconds: 600 } : {}),
    ...(state === 'failed' ? { failure: `EC2 refused to copy to ${region}: the source is unusable` } : {}),
    ...(final ? { retentionAppliedAt: state === 'completed' ? completedAt : queuedAt } : {}),
    ...extra,
  };
}

/** One prune pass over the world's fakes, as the reconcile Lambda would run it. */
export function prunePass(world: World, config: Config = world.config): Promise<PruneReport> {
  return prune({
    config,
    catalog: world.catalog,
    pruner: world.pruner,
    clock: world.clock,
    log: world.log,
    markKey: world.markKey,
  });
}

/**
 * One reconcile pass over the world's fakes, under another config than the world's own; `extra` adds or replaces
 * dependencies (the copy queue and slots, another pruner).
 */
export function reconcileUnder(world: World, config: Config, extra: Partial<ReconcileDeps> = {}) {
  return reconcile(reconcileDepsOf(world, config, extra));
}

/** The reconcile ports over the world's fakes, under `config`; `extra` adds or replaces some. */
export function reconcileDepsOf(
  world: World,
  config: Config = world.config,
  extra: Partial<ReconcileDeps> = {},
): ReconcileDeps {
  return {
    config,
    catalog: world.catalog,
    snapshots: world.ec2,
    inventory: world.ec2,
    account: world.ec2,
    pruner: world.pruner,
    clock: world.clock,
    log: world.log,
    markKey: world.markKey,
    ...extra,
  };
}

/** A volume target. */
export function volumeTarget(volumeId: string): Target {
  return { kind: 'volume', id: volumeId };
}

/** Mulberry32: a small, seeded PRNG, so a generated case that fails can be replayed from its seed. */
export function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    /** An integer in [min, max]. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}
