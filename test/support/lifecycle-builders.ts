import type { Config } from '../../functions/core/config.ts';
import type { Generation, SnapshotRecord, Target } from '../../functions/core/generation.ts';
import type { Tags } from '../../functions/core/ports.ts';
import { type PruneReport, prune } from '../../functions/core/prune.ts';
import { reconcile } from '../../functions/core/reconcile.ts';
import { TAG } from '../../functions/core/tags.ts';
import { aGeneration, anId, type aWorld } from './fakes.ts';

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
 * Records generations in the catalog and makes their snapshots (and AMIs) exist in EC2, tagged as ours unless
 * `tags` says otherwise (per snapshot id or AMI id).
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
        tags: options.tags?.[snapshot.snapshotId] ?? ourTags(generation),
        description: `snapkeeper ${generation.id}`,
      });
    }
    if (generation.amiId && !options.missing?.includes(generation.amiId)) {
      world.pruner.images.set(generation.amiId, options.tags?.[generation.amiId] ?? ourTags(generation));
    }
  }
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

/** One prune pass over the world's fakes, as the reconcile Lambda would run it. */
export function prunePass(world: World, config: Config = world.config): Promise<PruneReport> {
  return prune({
    config,
    catalog: world.catalog,
    pruner: world.pruner,
    clock: world.clock,
    log: world.log,
  });
}

/** One reconcile pass over the world's fakes, under another config than the world's own. */
export function reconcileUnder(world: World, config: Config) {
  return reconcile({
    config,
    catalog: world.catalog,
    snapshots: world.ec2,
    pruner: world.pruner,
    clock: world.clock,
    log: world.log,
  });
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
