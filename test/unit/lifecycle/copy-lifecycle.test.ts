import { describe, expect, it } from 'vitest';
import type { Config } from '#core/config/config.ts';
import type { CopyMessage } from '#core/copies/ports.ts';
import { slotKey } from '#core/copies/record.ts';
import { SLOT_STALE_MS } from '#core/copies/step.ts';
import { sweepSlots } from '#core/copies/sweep.ts';
import type { Ownership, Pruner } from '#core/lifecycle/ports.ts';
import { prune } from '#core/lifecycle/prune.ts';
import { type CopyRecord, type Generation, hasOpenWork, nextExpiry } from '#core/model/generation.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { restorableIn } from '#core/recovery/source.ts';
import { FakeCopyQueue, FakeCopySlots } from '../../support/fake-copies.ts';
import type { FakePruner } from '../../support/fake-pruner.ts';
import { aConfig, aPolicy, aVolume, aWorld } from '../../support/fakes.ts';
import {
  aCopy,
  aGenerationOn,
  dayAt,
  plusDays,
  reconcileUnder,
  store,
  type World,
} from '../../support/lifecycle-builders.ts';

const PRIMARY = 'us-east-1';
const DR = 'us-west-2';
const EU = 'eu-west-1';
const NOW = '2026-11-21T12:00:00.000Z';
const EXPIRED = '2026-11-20T00:00:00.000Z';

/**
 * A pruner that knows which Region each resource is in: asked in another Region, a resource is not there (and a
 * delete finds it gone), as EC2 would answer. Records every delete with its Region.
 */
class RegionalPruner implements Pruner {
  readonly deletes: { region: string; id: string }[] = [];
  readonly regionOf = new Map<string, string>();

  constructor(readonly inner: FakePruner) {}

  /** Places the DR copies of these generations in their Regions; everything else is in the primary Region. */
  place(generations: readonly Generation[]): void {
    for (const generation of generations) {
      for (const copy of generation.copies) {
        for (const id of [
          ...copy.snapshotIds,
          ...copy.images.flatMap((i) => (i.imageId ? [i.imageId] : [])),
        ]) {
          this.regionOf.set(id, copy.region);
        }
      }
    }
  }

  snapshotOwnership(region: string, snapshotIds: readonly string[]): Promise<Map<string, Ownership>> {
    return this.inner.snapshotOwnership(
      region,
      snapshotIds.filter((id) => this.isIn(region, id)),
    );
  }

  async imageOwnership(region: string, imageId: string): Promise<Ownership | undefined> {
    return this.isIn(region, imageId) ? this.inner.imageOwnership(region, imageId) : undefined;
  }

  imagesUsing(region: string, snapshotIds: readonly string[]): Promise<Map<string, string[]>> {
    return this.inner.imagesUsing(
      region,
      snapshotIds.filter((id) => this.isIn(region, id)),
    );
  }

  async deleteSnapshot(region: string, snapshotId: string): Promise<'deleted' | 'gone'> {
    if (!this.isIn(region, snapshotId)) return 'gone';
    const result = await this.inner.deleteSnapshot(region, snapshotId);
    this.deletes.push({ region, id: snapshotId });
    return result;
  }

  async deregisterImage(region: string, imageId: string): Promise<'deregistered' | 'gone'> {
    if (!this.isIn(region, imageId)) return 'gone';
    const result = await this.inner.deregisterImage(region, imageId);
    this.deletes.push({ region, id: imageId });
    return result;
  }

  existingTargets(targetIds: readonly string[]): Promise<Set<string>> {
    return this.inner.existingTargets(targetIds);
  }

  private isIn(region: string, id: string): boolean {
    return (this.regionOf.get(id) ?? PRIMARY) === region;
  }
}

/** `daily` over volumes, kept `keep` deep, with these copy rules. */
function drConfig(
  copies: { region: string; keep?: { count?: number; days?: number } }[],
  fields: { keep?: { count?: number; days?: number }; orphans?: { keepNewestDays?: number } } = {},
): Config {
  return aConfig({
    policies: [
      aPolicy({
        targets: 'volumes',
        schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: fields.keep ?? { count: 2 } }],
        copies,
        ...(fields.orphans ? { orphans: fields.orphans } : {}),
      }),
    ],
  });
}

/** A world at NOW with one live volume, a Region-aware pruner, and the copy queue and slots. */
function aDrWorld(config: Config, options: { volumeExists?: boolean } = {}) {
  const world = aWorld({ config, now: NOW });
  const volume = aVolume();
  if (options.volumeExists ?? true) world.ec2.add(volume);
  const pruner = new RegionalPruner(world.pruner);
  const queue = new FakeCopyQueue(world.clock);
  const slots = new FakeCopySlots();
  return {
    ...world,
    volumeId: volume.volumeId,
    regional: pruner,
    queue,
    slots,
    /** Stores generations, their DR copies placed in their Regions. */
    keep(...generations: Generation[]) {
      store(world, generations);
      pruner.place(generations);
    },
    prune: () =>
      prune({
        config,
        catalog: world.catalog,
        pruner,
        clock: world.clock,
        log: world.log,
        markKey: world.markKey,
      }),
    reconcile: (under: Config = config) => reconcileUnder(world, under, { pruner, copyQueue: queue, slots }),
    async stored(id: string): Promise<Generation> {
      const generation = await world.catalog.get(id);
      if (!generation) throw new Error(`no generation ${id}`);
      return generation;
    },
  };
}

type DrWorld = ReturnType<typeof aDrWorld>;

/** A generation of the world's volume on `day`, with copies made by `copies` from it. */
function copied(
  world: DrWorld,
  day: number,
  copies: (generation: Generation) => CopyRecord[],
  fields: Partial<Generation> = {},
): Generation {
  const taken = aGenerationOn(day, { volumeId: world.volumeId, ...fields });
  return { ...taken, copies: copies(taken) };
}

const deletedIn = (world: DrWorld, region: string) =>
  world.regional.deletes.filter((d) => d.region === region).map((d) => d.id);

const copyIn = (generation: Generation, region: string) =>
  generation.copies.find((c) => c.region === region) as CopyRecord;

describe('DR retention: each Region under its own keep', () => {
  it('prunes the primary and each Region copy on its own keep, each in its own Region', async () => {
    // Primary keeps 2, us-west-2 keeps 4, eu-west-1 keeps 1: six generations whose copies just completed.
    const world = aDrWorld(
      drConfig([
        { region: DR, keep: { count: 4 } },
        { region: EU, keep: { count: 1 } },
      ]),
    );
    const generations = [10, 11, 12, 13, 14, 15].map((day) =>
      copied(
        world,
        day,
        (g) => [
          aCopy(g, DR, 'completed', undefined, { retentionAppliedAt: undefined }),
          aCopy(g, EU, 'completed', undefined, { retentionAppliedAt: undefined }),
        ],
        { retentionAppliedAt: undefined },
      ),
    );
    world.keep(...generations);

    const report = await world.reconcile();

    const ids = (gs: Generation[], region: string) =>
      gs.flatMap((g) =>
        region === PRIMARY ? g.snapshots.map((s) => s.snapshotId) : copyIn(g, region).snapshotIds,
      );
    expect(deletedIn(world, PRIMARY).sort()).toEqual(ids(generations.slice(0, 4), PRIMARY).sort());
    expect(deletedIn(world, DR).sort()).toEqual(ids(generations.slice(0, 2), DR).sort());
    expect(deletedIn(world, EU).sort()).toEqual(ids(generations.slice(0, 5), EU).sort());
    expect(report.held).toEqual([]);
    expect(report.pruned).toHaveLength(4 + 2 + 5);

    const after = await Promise.all(generations.map((g) => world.stored(g.id)));
    expect(after.map((g) => Boolean(g.deletedAt))).toEqual([true, true, true, true, false, false]);
    expect(after.map((g) => Boolean(copyIn(g, DR).deletedAt))).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(after.map((g) => Boolean(copyIn(g, EU).deletedAt))).toEqual([true, true, true, true, true, false]);
    // Day 12: gone here, still restorable from its copy in us-west-2.
    const day12 = after[2] as Generation;
    expect([PRIMARY, DR, EU].map((region) => restorableIn(day12, region, PRIMARY))).toEqual([
      false,
      true,
      false,
    ]);
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('places a copy only once it is final, pushing older copies of its Region out when it arrives', async () => {
    const world = aDrWorld(drConfig([{ region: DR, keep: { count: 2 } }], { keep: { count: 5 } }));
    const day10 = copied(world, 10, (g) => [aCopy(g, DR, 'completed')]);
    const day11 = copied(world, 11, (g) => [aCopy(g, DR, 'completed')]);
    const day12 = copied(world, 12, (g) => [aCopy(g, DR, 'pending')]);
    world.keep(day10, day11, day12);

    const early = await world.reconcile();
    expect(early.copyExpiries).toEqual([]);
    expect(copyIn(await world.stored(day12.id), DR).retentionAppliedAt).toBeUndefined();

    await world.catalog.updateCopy(day12.id, DR, (current) =>
      current
        ? {
            ...current,
            state: 'completed',
            snapshots: current.snapshots.map((s) => ({ ...s, state: 'completed' })),
          }
        : undefined,
    );
    const report = await world.reconcile();

    expect(report.copyExpiries).toEqual([
      { generationId: day10.id, region: DR, expiresAt: day12.scheduledAt },
    ]);
    expect(copyIn(await world.stored(day12.id), DR)).toMatchObject({ retentionAppliedAt: NOW });
    expect(copyIn(await world.stored(day12.id), DR).expiresAt).toBeUndefined();
    expect(report.pruned).toEqual([
      { generationId: day10.id, region: DR, snapshotIds: copyIn(day10, DR).snapshotIds },
    ]);
    // Its primary is kept 5 deep: only the copy went, in its Region.
    expect(world.regional.deletes).toEqual(copyIn(day10, DR).snapshotIds.map((id) => ({ region: DR, id })));
    expect((await world.stored(day10.id)).deletedAt).toBeUndefined();
  });

  it('prunes an old copy after its primary is long gone', async () => {
    const world = aDrWorld(drConfig([{ region: DR, keep: { count: 1 } }]));
    const old = copied(world, 10, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })], {
      deletedAt: dayAt(12),
    });
    const newer = copied(world, 11, (g) => [aCopy(g, DR, 'completed')]);
    world.keep(newer);
    store(world, [old], { missing: old.snapshots.map((s) => s.snapshotId) });
    world.regional.place([old]);

    const report = await world.prune();

    expect(report.pruned).toEqual([
      { generationId: old.id, region: DR, snapshotIds: copyIn(old, DR).snapshotIds },
    ]);
    expect(copyIn(await world.stored(old.id), DR).deletedAt).toBe(NOW);
  });
});

describe('DR prune interlocks', () => {
  const config = drConfig([{ region: DR, keep: { count: 1 } }]);

  it('holds a copy that is not final, whatever its expiry says', async () => {
    const world = aDrWorld(config);
    const due = copied(world, 10, (g) => [aCopy(g, DR, 'pending', undefined, { expiresAt: EXPIRED })]);
    const newest = copied(world, 11, (g) => [aCopy(g, DR, 'completed')]);
    world.keep(due, newest);

    const report = await world.prune();

    expect(report.held).toEqual([
      { generationId: due.id, region: DR, reason: `its copy to ${DR} is still in progress` },
    ]);
    expect(world.regional.deletes).toEqual([]);
    const copy = copyIn(await world.stored(due.id), DR);
    expect(copy.heldBecause).toBe(`its copy to ${DR} is still in progress`);
    expect(copy.pruneStartedAt).toBeUndefined();
  });

  it('holds a copy whose copy rule left the config, and places a newly final one there without expiry', async () => {
    const world = aDrWorld(config);
    const due = copied(world, 10, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })]);
    const finished = copied(world, 11, (g) => [
      aCopy(g, DR, 'completed', undefined, { retentionAppliedAt: undefined }),
    ]);
    const newest = copied(world, 12, (g) => [aCopy(g, DR, 'completed')]);
    world.keep(due, finished, newest);
    const withoutCopies = drConfig([]);

    const report = await world.reconcile(withoutCopies);

    expect(report.held).toEqual([
      {
        generationId: due.id,
        region: DR,
        reason: expect.stringContaining(`the copy rule of daily/daily for ${DR} is no longer in the config`),
      },
    ]);
    expect(world.regional.deletes).toEqual([]);
    const placed = copyIn(await world.stored(finished.id), DR);
    expect(placed.retentionAppliedAt).toBe(NOW);
    expect(placed.expiresAt).toBeUndefined();
  });

  it('keeps the newest completed copy of a live target, even when newer generations have none there', async () => {
    const world = aDrWorld(config);
    const older = copied(world, 10, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })]);
    const newestCopy = copied(world, 11, (g) => [
      aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED }),
    ]);
    const failedCopy = copied(world, 12, (g) => [aCopy(g, DR, 'failed')]);
    const deletedCopy = copied(world, 13, (g) => [
      aCopy(g, DR, 'completed', undefined, { deletedAt: dayAt(14) }),
    ]);
    const copiedElsewhere = copied(world, 14, (g) => [aCopy(g, EU, 'completed')]);
    world.keep(older, newestCopy, failedCopy, deletedCopy, copiedElsewhere);

    const report = await world.prune();

    expect(report.pruned).toEqual([
      { generationId: older.id, region: DR, snapshotIds: copyIn(older, DR).snapshotIds },
    ]);
    expect(report.held).toEqual([
      {
        generationId: newestCopy.id,
        region: DR,
        reason: `it is the newest completed copy in ${DR} of ${world.volumeId}`,
      },
    ]);
    expect(deletedIn(world, DR)).toEqual(copyIn(older, DR).snapshotIds);
  });

  it('keeps the newest completed copy of a deleted volume forever by default, pruning older ones', async () => {
    const world = aDrWorld(config, { volumeExists: false });
    const older = copied(world, 10, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })]);
    const newest = copied(world, 11, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })], {
      deletedAt: dayAt(12),
    });
    world.keep(older);
    store(world, [newest], { missing: newest.snapshots.map((s) => s.snapshotId) });
    world.regional.place([newest]);

    const report = await world.prune();
    expect(report.pruned.map((p) => [p.generationId, p.region])).toEqual([[older.id, DR]]);
    expect(report.held).toEqual([
      {
        generationId: newest.id,
        region: DR,
        reason: expect.stringMatching(
          new RegExp(
            `^${world.volumeId} no longer exists and this is its newest copy in ${DR}; .*orphans\\.keepNewestDays`,
          ),
        ),
      },
    ]);
    world.clock.set('2036-11-21T12:00:00.000Z');
    expect((await world.prune()).pruned).toEqual([]);
  });

  it('keeps the newest copy of a deleted volume keepNewestDays after it was scheduled, then prunes it', async () => {
    const world = aDrWorld(
      drConfig([{ region: DR, keep: { count: 1 } }], { orphans: { keepNewestDays: 30 } }),
      {
        volumeExists: false,
      },
    );
    const newest = copied(world, 11, (g) => [aCopy(g, DR, 'completed', undefined, { expiresAt: EXPIRED })]);
    world.keep(newest);
    const deadline = Date.parse(newest.scheduledAt) + 30 * 86_400_000;

    world.clock.set(new Date(deadline - 1).toISOString());
    expect((await world.prune()).held).toEqual([
      {
        generationId: newest.id,
        region: DR,
        reason: `${world.volumeId} no longer exists; the orphan rule keeps its newest copy in ${DR} for 30 days`,
      },
    ]);
    world.clock.set(new Date(deadline).toISOString());
    const late = await world.prune();
    expect(late.pruned.map((p) => [p.generationId, p.region])).toEqual([[newest.id, DR]]);
    expect(deletedIn(world, DR)).toEqual(copyIn(newest, DR).snapshotIds);
  });

  it.each([
    ['not tagged as managed', (g: Generation): Tags => ({ [TAG.generation]: g.id })],
    ['tagged as another generation', (): Tags => ({ [TAG.managed]: 'true', [TAG.generation]: 'gen-other' })],
    ['untagged', (): Tags => ({})],
  ])('refuses to delete anything of a copy with a snapshot %s', async (_, tagsOf) => {
    const world = aDrWorld(config);
    const taken = aGenerationOn(10, { volumeId: world.volumeId, volumes: 3 });
    const generation = {
      ...taken,
      copies: [aCopy(taken, DR, 'completed', undefined, { expiresAt: EXPIRED })],
    };
    const foreign = copyIn(generation, DR).snapshotIds[1] as string;
    const newest = copied(world, 11, (g) => [aCopy(g, DR, 'completed')]);
    store(world, [generation, newest], { tags: { [foreign]: tagsOf(generation) } });
    world.regional.place([generation, newest]);

    for (const pass of [1, 2]) {
      const report = await world.prune();
      expect(report.pruned, `pass ${pass}`).toEqual([]);
      expect(report.held).toEqual([
        {
          generationId: generation.id,
          region: DR,
          reason: `snapshot ${foreign} in ${DR} is not tagged as belonging to ${generation.id}; refusing to delete anything of this copy`,
        },
      ]);
    }
    expect(world.regional.deletes).toEqual([]);
    for (const id of copyIn(generation, DR).snapshotIds) expect(world.ec2.snapshots.has(id)).toBe(true);
    const copy = copyIn(await world.stored(generation.id), DR);
    expect(copy.deletedAt).toBeUndefined();
    expect(copy.heldBecause).toContain('refusing to delete anything');
  });

  describe('an AMI copy', () => {
    const amiId = 'ami-0123456789abcdef0';

    function anAmiCopy(world: DrWorld) {
      const taken = aGenerationOn(10, { volumeId: world.volumeId, volumes: 2, amiId });
      const withAmi = {
        ...taken,
        snapshots: taken.snapshots.map((s, i) => ({
          ...s,
          amiId,
          deviceName: i === 0 ? '/dev/xvda' : '/dev/sdf',
        })),
      };
      return { ...withAmi, copies: [aCopy(withAmi, DR, 'completed', undefined, { expiresAt: EXPIRED })] };
    }

    it('deregisters the AMI copy before deleting the snapshot copies behind it', async () => {
      const world = aDrWorld(config);
      const due = anAmiCopy(world);
      const copy = copyIn(due, DR);
      const imageId = copy.images[0]?.imageId as string;
      world.keep(
        due,
        copied(world, 11, (g) => [aCopy(g, DR, 'completed')]),
      );

      const report = await world.prune();

      expect(report.pruned).toEqual([
        { generationId: due.id, region: DR, snapshotIds: copy.snapshotIds, amiIds: [imageId] },
      ]);
      expect(world.regional.deletes).toEqual([
        { region: DR, id: imageId },
        ...copy.snapshotIds.map((id) => ({ region: DR, id })),
      ]);
      expect(world.pruner.images.has(imageId)).toBe(false);
    });

    it('deletes neither the AMI copy nor its snapshots when the AMI copy is not ours', async () => {
      const world = aDrWorld(config);
      const due = anAmiCopy(world);
      const imageId = copyIn(due, DR).images[0]?.imageId as string;
      store(world, [due, copied(world, 11, (g) => [aCopy(g, DR, 'completed')])], {
        tags: { [imageId]: { [TAG.managed]: 'true', [TAG.generation]: 'gen-other' } },
      });
      world.regional.place([due]);

      const report = await world.prune();

      expect(report.held).toEqual([
        {
          generationId: due.id,
          region: DR,
          reason: expect.stringContaining(`${imageId} in ${DR} is not tagged`),
        },
      ]);
      expect(world.regional.deletes).toEqual([]);
    });
  });
});

describe('DR prune: crash safety', () => {
  it('resumes an interrupted copy prune, deleting each snapshot once and noting the one already gone', async () => {
    const world = aDrWorld(drConfig([{ region: DR, keep: { count: 1 } }]));
    const taken = aGenerationOn(10, { volumeId: world.volumeId, volumes: 3 });
    const due = { ...taken, copies: [aCopy(taken, DR, 'completed', undefined, { expiresAt: EXPIRED })] };
    world.keep(
      due,
      copied(world, 11, (g) => [aCopy(g, DR, 'completed')]),
    );
    const [first, second, third] = copyIn(due, DR).snapshotIds as [string, string, string];
    world.pruner.failOnDelete = 2;

    const interrupted = await world.reconcile();

    expect(interrupted.held).toEqual([
      {
        generationId: due.id,
        region: DR,
        reason: expect.stringContaining(`interrupted before deleting ${second}`),
      },
    ]);
    const halfway = copyIn(await world.stored(due.id), DR);
    expect(halfway).toMatchObject({ pruneStartedAt: NOW });
    expect(halfway.deletedAt).toBeUndefined();
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([due.id]);

    world.clock.advance(60_000);
    const resumed = await world.reconcile();

    expect(resumed.pruned).toEqual([
      { generationId: due.id, region: DR, snapshotIds: [first, second, third] },
    ]);
    expect(world.pruner.deletes).toEqual([first, second, third]);
    expect(world.regional.deletes).toEqual([first, second, third].map((id) => ({ region: DR, id })));
    expect(resumed.notes).toEqual([
      {
        generationId: due.id,
        note: `snapshot ${first} in ${DR} was already gone when the interrupted prune resumed`,
      },
    ]);
    const done = copyIn(await world.stored(due.id), DR);
    expect(done.deletedAt).toBe(world.clock.now().toISOString());
    expect(done.pruneStartedAt).toBe(NOW);
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([]);
    expect((await world.prune()).pruned).toEqual([]);
    expect(world.pruner.deletes).toHaveLength(3);
  });
});

describe('sweepSlots', () => {
  const config = drConfig([{ region: DR }, { region: EU }]);

  it('frees stale slots whose copy is final, absent or never started, and keeps those of copies in flight', async () => {
    const world = aDrWorld(config);
    const taken = aGenerationOn(20, { volumeId: world.volumeId, volumes: 2 });
    const [a, b] = taken.snapshots.map((s) => s.snapshotId) as [string, string];
    // To us-west-2: the copy of `a` in flight, `b` still waiting; to eu-west-1: completed.
    const toDr = aCopy(taken, DR, 'pending');
    const waiting = {
      sourceSnapshotId: b,
      volumeId: taken.snapshots[1]?.volumeId ?? '',
      state: 'waiting' as const,
    };
    const copiedA = {
      ...taken,
      copies: [
        {
          ...toDr,
          snapshots: [toDr.snapshots[0], waiting] as CopyRecord['snapshots'],
          snapshotIds: [toDr.snapshotIds[0] ?? ''],
        },
        aCopy(taken, EU, 'completed'),
      ],
    };
    const amiId = 'ami-0000000000000000a';
    const amiTaken = aGenerationOn(20, { amiId });
    const withAmi = { ...amiTaken, snapshots: amiTaken.snapshots.map((s) => ({ ...s, amiId })) };
    const amiCopying = { ...withAmi, copies: [aCopy(withAmi, DR, 'pending')] };
    world.keep(copiedA, amiCopying);
    const take = async (region: string, key: string, at: string) =>
      expect(
        await world.slots.acquire({
          region,
          key,
          holder: `worker-${key}`,
          limit: 20,
          now: at,
          staleAfterMs: SLOT_STALE_MS,
        }),
      ).toBe('acquired');
    const stale = new Date(Date.parse(NOW) - SLOT_STALE_MS).toISOString();
    const fresh = new Date(Date.parse(NOW) - SLOT_STALE_MS + 1).toISOString();
    const keys = {
      inFlight: slotKey(copiedA.id, a),
      notStarted: slotKey(copiedA.id, b),
      absent: slotKey('gen-20261121T030000-0000000000', 'snap-00000000000000abc'),
      imageInFlight: slotKey(amiCopying.id, amiId),
      completed: slotKey(copiedA.id, a),
      completedFresh: slotKey(copiedA.id, b),
    };
    await take(DR, keys.inFlight, stale);
    await take(DR, keys.notStarted, stale);
    await take(DR, keys.absent, stale);
    await take(DR, keys.imageInFlight, stale);
    await take(EU, keys.completed, stale);
    await take(EU, keys.completedFresh, fresh);

    const freed = await sweepSlots(
      { config, catalog: world.catalog, slots: world.slots, clock: world.clock, log: world.log },
      SLOT_STALE_MS,
    );

    expect(freed).toEqual(
      expect.arrayContaining([
        { region: DR, key: keys.notStarted },
        { region: DR, key: keys.absent },
        { region: EU, key: keys.completed },
      ]),
    );
    expect(freed).toHaveLength(3);
    expect([...(await world.slots.held(DR)).keys()].sort()).toEqual(
      [keys.inFlight, keys.imageInFlight].sort(),
    );
    // Not stale yet: its worker may still be about to record it.
    expect([...(await world.slots.held(EU)).keys()]).toEqual([keys.completedFresh]);
    expect(world.log.messages('warn')).toContain('copy slots freed');
  });

  it('is run by reconcile, which reports the slots it freed', async () => {
    const world = aDrWorld(config);
    const generation = copied(world, 20, (g) => [aCopy(g, DR, 'completed')]);
    world.keep(generation);
    const key = slotKey(generation.id, generation.snapshots[0]?.snapshotId ?? '');
    await world.slots.acquire({
      region: DR,
      key,
      holder: 'dead-worker',
      limit: 20,
      now: '2026-11-21T03:00:00.000Z',
      staleAfterMs: SLOT_STALE_MS,
    });
    const report = await world.reconcile();
    expect(report.slotsFreed).toEqual([{ region: DR, key }]);
    expect((await world.slots.held(DR)).size).toBe(0);
  });
});

/** A copy queue whose next `failures` sends fail, as SQS being unreachable. */
class FlakyCopyQueue extends FakeCopyQueue {
  failures = 0;
  override async send(messages: readonly CopyMessage[], delaySeconds?: number): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('SQS SendMessageBatch: ServiceUnavailable');
    }
    return super.send(messages, delaySeconds);
  }
}

describe('reconcile: copies its run did not queue', () => {
  const config = drConfig([{ region: DR }]);

  /** A completed generation whose run stopped before queueing its copies: not placed, no copy records. */
  function unqueued(world: World & { volumeId: string }) {
    const generation = aGenerationOn(20, { volumeId: world.volumeId, retentionAppliedAt: undefined });
    store(world, [generation]);
    return generation;
  }

  it('queues them, writes the queued record, and then places the generation', async () => {
    const world = aDrWorld(config);
    const generation = unqueued(world);

    const report = await world.reconcile();

    expect(report.copiesQueued).toEqual([generation.id]);
    expect(world.queue.sent.map((m) => ({ generationId: m.generationId, region: m.region }))).toEqual([
      { generationId: generation.id, region: DR },
    ]);
    const stored = await world.stored(generation.id);
    expect(stored.copies).toEqual([expect.objectContaining({ region: DR, state: 'queued', queuedAt: NOW })]);
    expect(stored.retentionAppliedAt).toBe(NOW);
    // Placed, and the copy not final: nothing left for reconcile; the copy is the queue's work now.
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('holds retention back when the queue cannot be reached, so the generation stays in the open-work index', async () => {
    const world = aDrWorld(config);
    const queue = new FlakyCopyQueue(world.clock);
    queue.failures = 1;
    const generation = unqueued(world);
    const pass = () => reconcileUnder(world, config, { pruner: world.regional, copyQueue: queue });

    const failed = await pass();

    expect(failed.copiesQueued).toEqual([]);
    expect(queue.sent).toEqual([]);
    const stored = await world.stored(generation.id);
    expect(stored.copies).toEqual([]);
    expect(stored.retentionAppliedAt).toBeUndefined();
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([generation.id]);
    expect(world.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'copies not queued',
        data: expect.objectContaining({ generationId: generation.id }),
      }),
    );

    world.clock.advance(15 * 60_000);
    const next = await pass();
    expect(next.copiesQueued).toEqual([generation.id]);
    expect(queue.sent).toHaveLength(1);
    expect((await world.stored(generation.id)).retentionAppliedAt).toBe(world.clock.now().toISOString());
  });

  it('holds retention back when no copy queue is wired in', async () => {
    const world = aDrWorld(config);
    const generation = unqueued(world);
    await reconcileUnder(world, config, { pruner: world.regional });
    expect((await world.stored(generation.id)).retentionAppliedAt).toBeUndefined();
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([generation.id]);
    expect(world.log.entries).toContainEqual(
      expect.objectContaining({
        message: 'copies not queued',
        data: expect.objectContaining({ error: expect.stringContaining('SNAPKEEPER_COPY_QUEUE_URL') }),
      }),
    );
  });

  it('queues nothing for a generation whose schedule copies nowhere, or that failed', async () => {
    const world = aDrWorld(drConfig([]));
    const completed = unqueued(world);
    const failed = aGenerationOn(19, {
      volumeId: world.volumeId,
      state: 'failed',
      retentionAppliedAt: undefined,
    });
    store(world, [failed]);
    const report = await world.reconcile(drConfig([]));
    expect(report.copiesQueued).toEqual([]);
    expect(world.queue.sent).toEqual([]);
    expect((await world.stored(completed.id)).retentionAppliedAt).toBe(NOW);
    expect((await world.stored(failed.id)).retentionAppliedAt).toBe(NOW);
  });
});

describe('open work and expiry with copies', () => {
  const base = aGenerationOn(10);
  const copy = (state: CopyRecord['state'], extra: Partial<CopyRecord> = {}) =>
    aCopy(base, DR, state, undefined, extra);

  it.each([
    ['a placed generation with a placed final copy', {}, [copy('completed')], false],
    ['a placed generation whose copy is queued (the queue has it)', {}, [copy('queued')], false],
    ['a placed generation whose copy is copying', {}, [copy('pending')], false],
    ['a final copy not placed yet', {}, [copy('completed', { retentionAppliedAt: undefined })], true],
    ['a failed copy not placed yet', {}, [copy('failed', { retentionAppliedAt: undefined })], true],
    [
      'a deleted primary with a final copy not placed yet',
      { deletedAt: NOW },
      [copy('completed', { retentionAppliedAt: undefined })],
      true,
    ],
    ['a copy whose prune began', { deletedAt: NOW }, [copy('completed', { pruneStartedAt: NOW })], true],
    [
      'a deleted copy',
      { deletedAt: NOW },
      [copy('completed', { pruneStartedAt: NOW, deletedAt: NOW })],
      false,
    ],
    ['an unplaced primary', { retentionAppliedAt: undefined }, [copy('completed')], true],
  ] as const)('hasOpenWork: %s → %s', (_, fields, copies, open) => {
    expect(hasOpenWork({ ...base, ...fields, copies: [...copies] })).toBe(open);
  });

  it('nextExpiry is the soonest undeleted expiry, the primary or a copy', () => {
    const early = '2026-11-12T00:00:00.000Z';
    const late = '2026-11-30T00:00:00.000Z';
    const eu = (extra: Partial<CopyRecord>) => aCopy(base, EU, 'completed', undefined, extra);
    expect(nextExpiry({ ...base, expiresAt: late, copies: [copy('completed', { expiresAt: early })] })).toBe(
      early,
    );
    expect(nextExpiry({ ...base, expiresAt: early, copies: [copy('completed', { expiresAt: late })] })).toBe(
      early,
    );
    expect(
      nextExpiry({
        ...base,
        expiresAt: late,
        copies: [copy('completed', { expiresAt: early, deletedAt: NOW }), eu({})],
      }),
    ).toBe(late);
    expect(
      nextExpiry({
        ...base,
        expiresAt: early,
        deletedAt: NOW,
        copies: [copy('completed', { expiresAt: late })],
      }),
    ).toBe(late);
    expect(nextExpiry({ ...base, copies: [copy('completed')] })).toBeUndefined();
    expect(nextExpiry({ ...base, expiresAt: early, deletedAt: NOW, copies: [] })).toBeUndefined();
  });

  it('lists a generation whose primary is gone but whose copy expired among the expiring', async () => {
    const world = aWorld({ now: NOW });
    const generation = { ...base, deletedAt: dayAt(12), copies: [copy('completed', { expiresAt: EXPIRED })] };
    const laterTaken = aGenerationOn(11);
    const later = {
      ...laterTaken,
      copies: [aCopy(laterTaken, DR, 'completed', undefined, { expiresAt: plusDays(NOW, 1) })],
    };
    world.catalog.seed(generation, later);
    expect((await world.catalog.expiring(NOW)).map((g) => g.id)).toEqual([generation.id]);
  });
});
