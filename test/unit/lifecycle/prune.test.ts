import { describe, expect, it } from 'vitest';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { aConfig, anId, anInstance, aPolicy, aWorld } from '../../support/fakes.ts';
import {
  aCopy,
  aGenerationOn,
  withVolume as aWorldWithVolume,
  dayAt,
  ec2Contents,
  ourTags,
  prunePass,
  store,
  type World,
} from '../../support/lifecycle-builders.ts';

const NOW = '2026-11-21T12:00:00.000Z';
const EXPIRED = '2026-11-20T00:00:00.000Z';

/** A world whose volume still exists, with one newer completed generation of it (`newest`). */
const withVolume = (config = aConfig()) => aWorldWithVolume(config, NOW);

function snapshotIds(...generations: Generation[]): string[] {
  return generations.flatMap((g) => g.snapshots.map((s) => s.snapshotId));
}

async function stored(world: World, id: string): Promise<Generation> {
  const generation = await world.catalog.get(id);
  if (!generation) throw new Error(`no generation ${id}`);
  return generation;
}

describe('prune: only what is ours (SPEC §3)', () => {
  it('deletes an expired generation that is ours and not the newest', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 2 });
    store(world, [due, world.newest]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([{ generationId: due.id, snapshotIds: snapshotIds(due) }]);
    expect(report.held).toEqual([]);
    expect(world.pruner.deletes).toEqual(snapshotIds(due));
    expect((await stored(world, due.id)).deletedAt).toBe(NOW);
    expect(world.ec2.snapshots.has(snapshotIds(world.newest)[0] ?? '')).toBe(true);
  });

  it('leaves a snapshot tagged to look like ours but absent from the catalog', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    store(world, [due, world.newest]);
    // Someone copied our tags onto a snapshot of theirs: same managed flag, same generation id.
    const impostor = anId('snap');
    world.ec2.snapshots.set(impostor, {
      snapshotId: impostor,
      volumeId: world.volumeId,
      state: 'completed',
      tags: ourTags(due),
      description: 'hand-made',
    });
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([due.id]);
    expect(world.ec2.snapshots.has(impostor)).toBe(true);
    expect(world.pruner.deletes).not.toContain(impostor);
  });

  it.each([
    ['not tagged managed', (g: Generation) => ({ ...ourTags(g), [TAG.managed]: 'false' })],
    ['without any snapkeeper tags', () => ({ Name: 'data' })],
    ['tagged with another generation', (g: Generation) => ({ ...ourTags(g), [TAG.generation]: 'gen-other' })],
  ])('refuses a generation whose recorded snapshot is %s, deleting nothing of it', async (_, tagsOf) => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 3 });
    const [ours1, foreign, ours2] = snapshotIds(due);
    store(world, [due, world.newest], { tags: { [foreign ?? '']: tagsOf(due) } });
    const before = ec2Contents(world);

    const report = await prunePass(world);

    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([{ generationId: due.id, reason: expect.stringContaining(foreign ?? '') }]);
    expect(world.pruner.deletes).toEqual([]);
    expect(ec2Contents(world)).toEqual(before);
    expect(world.ec2.snapshots.has(ours1 ?? '')).toBe(true);
    expect(world.ec2.snapshots.has(ours2 ?? '')).toBe(true);
    const after = await stored(world, due.id);
    expect(after.deletedAt).toBeUndefined();
    expect(after.heldBecause).toContain(foreign);
    // And a later pass still refuses it: holding is not a one-off.
    world.clock.advance(3_600_000);
    expect((await prunePass(world)).pruned).toEqual([]);
    expect(world.pruner.deletes).toEqual([]);
  });
});

describe('prune: the newest completed generation of a target', () => {
  it('keeps it even past its expiry', async () => {
    const world = withVolume();
    const newest = { ...world.newest, expiresAt: EXPIRED };
    const older = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    store(world, [older, newest]);
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([older.id]);
    expect(report.held).toEqual([
      { generationId: newest.id, reason: expect.stringContaining('newest completed generation') },
    ]);
    expect(world.ec2.snapshots.has(snapshotIds(newest)[0] ?? '')).toBe(true);
    expect((await stored(world, newest.id)).heldBecause).toContain('newest');
  });

  it('counts newest per target, across all its schedules, even when every one has expired', async () => {
    const config = aConfig({
      policies: [
        aPolicy({
          targets: 'volumes',
          schedules: [
            { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 2 } },
            { name: 'weekly', expression: 'cron(0 4 ? * SUN *)', keep: { count: 2 } },
          ],
        }),
      ],
    });
    const world = withVolume(config);
    const { volumeId } = world;
    const daily = [12, 13, 14].map((day) => aGenerationOn(day, { volumeId, expiresAt: EXPIRED }));
    const weekly = [8, 15].map((day) =>
      aGenerationOn(day, { volumeId, schedule: 'weekly', expiresAt: EXPIRED }),
    );
    // A newer failed run holds nothing a restore could use: it does not make the older one disposable.
    const failed = aGenerationOn(16, {
      volumeId,
      state: 'failed',
      consistency: 'failed',
      expiresAt: EXPIRED,
    });
    store(world, [...daily, ...weekly, failed]);

    const report = await prunePass(world);

    const newest = weekly[1] as Generation;
    expect(report.held).toEqual([{ generationId: newest.id, reason: expect.stringContaining('newest') }]);
    expect(report.pruned.map((p) => p.generationId).sort()).toEqual(
      [...daily, weekly[0] as Generation, failed].map((g) => g.id).sort(),
    );
    expect(world.ec2.snapshots.has(snapshotIds(newest)[0] ?? '')).toBe(true);
  });
});

describe('prune: DR copies', () => {
  const config = aConfig({
    policies: [aPolicy({ targets: 'volumes', copies: [{ region: 'us-west-2', schedules: ['daily'] }] })],
  });

  it.each([
    ['no copy yet', () => []],
    ['its copy still queued', (g: Generation) => [aCopy(g, 'us-west-2', 'queued')]],
    ['its copy still pending', (g: Generation) => [aCopy(g, 'us-west-2', 'pending', ['snap-x'])]],
    ['its copy failed', (g: Generation) => [aCopy(g, 'us-west-2', 'failed', [])]],
    ['only a copy to another Region', (g: Generation) => [aCopy(g, 'eu-west-1', 'completed')]],
  ])('holds a completed generation with %s', async (_, copiesOf) => {
    const world = withVolume(config);
    const taken = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    const due = { ...taken, copies: copiesOf(taken) };
    store(world, [due, world.newest]);
    const report = await prunePass(world);
    expect(report.held).toEqual([{ generationId: due.id, reason: expect.stringContaining('us-west-2') }]);
    expect(world.pruner.deletes).toEqual([]);
    expect((await stored(world, due.id)).pruneStartedAt).toBeUndefined();
  });

  it('lets it go once its copy has completed', async () => {
    const world = withVolume(config);
    const taken = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    const due = { ...taken, copies: [aCopy(taken, 'us-west-2', 'pending', ['snap-x'])] };
    store(world, [due, world.newest]);
    expect((await prunePass(world)).pruned).toEqual([]);

    await world.catalog.update({ ...due, copies: [aCopy(taken, 'us-west-2', 'completed', ['snap-x'])] }, [
      'copies',
    ]);
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([due.id]);
    expect(report.held).toEqual([]);
    expect((await stored(world, due.id)).heldBecause).toBeUndefined();
  });
});

describe('prune: AMI generations', () => {
  function anAmiGeneration(world: ReturnType<typeof withVolume>) {
    const amiId = 'ami-0123456789abcdef0';
    const generation = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 2, amiId });
    // An AMI is of an instance: its snapshots record the instance it was made of.
    const instanceId = 'i-0123456789abcdef0';
    return { ...generation, snapshots: generation.snapshots.map((s) => ({ ...s, amiId, instanceId })) };
  }

  it('deregisters the AMI before deleting the snapshots behind it', async () => {
    const world = withVolume();
    const due = anAmiGeneration(world);
    store(world, [due, world.newest]);
    const report = await prunePass(world);
    expect(world.pruner.deletes).toEqual([due.amiId, ...snapshotIds(due)]);
    expect(report.pruned).toEqual([
      { generationId: due.id, snapshotIds: snapshotIds(due), amiIds: [due.amiId] },
    ]);
    expect(world.pruner.images.has(due.amiId ?? '')).toBe(false);
  });

  it.each([
    ['not tagged managed', { Name: 'golden image' }],
    ['tagged with another generation', { [TAG.managed]: 'true', [TAG.generation]: 'gen-other' }],
  ])('holds a generation whose AMI is %s, deleting nothing', async (_, tags) => {
    const world = withVolume();
    const due = anAmiGeneration(world);
    store(world, [due, world.newest], { tags: { [due.amiId ?? '']: tags } });
    const before = ec2Contents(world);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([{ generationId: due.id, reason: expect.stringContaining(due.amiId ?? '') }]);
    expect(world.pruner.deletes).toEqual([]);
    expect(ec2Contents(world)).toEqual(before);
    expect((await stored(world, due.id)).deletedAt).toBeUndefined();
  });
});

describe('prune: orphans (the target no longer exists)', () => {
  function orphanWorld(keepNewestDays?: number) {
    const config = aConfig({
      policies: [
        aPolicy({ targets: 'volumes', orphans: keepNewestDays === undefined ? {} : { keepNewestDays } }),
      ],
    });
    const world = aWorld({ config, now: NOW });
    const volumeId = anId('vol'); // never added to EC2: deleted
    const older = aGenerationOn(10, { volumeId, expiresAt: EXPIRED });
    const newest = aGenerationOn(11, { volumeId, expiresAt: EXPIRED });
    store(world, [older, newest]);
    return { ...world, volumeId, older, newest };
  }

  it('keeps the newest generation of a deleted volume forever by default, pruning the older ones', async () => {
    const world = orphanWorld();
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([world.older.id]);
    expect(report.held).toEqual([
      {
        generationId: world.newest.id,
        reason: expect.stringMatching(
          /no longer exists and this is its newest generation; .*orphans\.keepNewestDays/,
        ),
      },
    ]);
    world.clock.set('2036-11-21T12:00:00.000Z');
    expect((await prunePass(world)).pruned).toEqual([]);
    expect(world.ec2.snapshots.has(snapshotIds(world.newest)[0] ?? '')).toBe(true);
  });

  it('keeps it until keepNewestDays after it was scheduled, then prunes it', async () => {
    const world = orphanWorld(30);
    const { newest } = world;
    await prunePass(world);
    const deadline = Date.parse(newest.scheduledAt) + 30 * 86_400_000;
    world.clock.set(new Date(deadline - 1).toISOString());
    const early = await prunePass(world);
    expect(early.pruned).toEqual([]);
    expect(early.held).toEqual([
      {
        generationId: newest.id,
        reason: expect.stringContaining('the orphan rule keeps its newest generation for 30 days'),
      },
    ]);

    world.clock.set(new Date(deadline).toISOString());
    const late = await prunePass(world);
    expect(late.pruned.map((p) => p.generationId)).toEqual([newest.id]);
    expect(world.ec2.snapshots.has(snapshotIds(newest)[0] ?? '')).toBe(false);
  });

  it('prunes it at once with keepNewestDays 0', async () => {
    const world = orphanWorld(0);
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId).sort()).toEqual([world.older.id, world.newest.id].sort());
  });

  it('never treats a target that still exists as an orphan, whatever keepNewestDays says', async () => {
    const config = aConfig({ policies: [aPolicy({ targets: 'volumes', orphans: { keepNewestDays: 0 } })] });
    const world = withVolume(config);
    const newest = { ...world.newest, expiresAt: EXPIRED };
    store(world, [newest]);
    world.clock.set('2036-11-21T12:00:00.000Z');
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([{ generationId: newest.id, reason: expect.stringContaining('newest') }]);
  });

  it('does not treat a consistency group as an orphan while one member instance remains', async () => {
    const config = aConfig({ policies: [aPolicy({ orphans: { keepNewestDays: 0 } })] });
    const world = aWorld({ config, now: NOW });
    const survivor = anInstance();
    world.ec2.add(survivor);
    const target = {
      kind: 'group' as const,
      id: 'group:db',
      members: ['i-0000000000000dead', survivor.instanceId],
    };
    const newest = aGenerationOn(11, { target, expiresAt: EXPIRED });
    store(world, [newest]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([{ generationId: newest.id, reason: expect.stringContaining('newest') }]);
  });
});

describe('prune: what changed outside snapkeeper', () => {
  it('notes a snapshot deleted by hand, and still finishes the generation', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 3 });
    const [first, byHand, last] = snapshotIds(due);
    store(world, [due, world.newest], { missing: [byHand ?? ''] });

    const report = await prunePass(world);

    expect(report.pruned.map((p) => p.generationId)).toEqual([due.id]);
    expect(report.notes).toEqual([{ generationId: due.id, note: expect.stringContaining(byHand ?? '') }]);
    expect(world.pruner.deletes).toEqual([first, last]);
    const after = await stored(world, due.id);
    expect(after.deletedAt).toBe(NOW);
    expect(after.notes).toEqual([expect.stringContaining(byHand ?? '')]);
  });

  it('notes an AMI deregistered by hand, and still deletes the snapshots', async () => {
    const world = withVolume();
    const amiId = 'ami-0fedcba9876543210';
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, amiId });
    store(world, [due, world.newest], { missing: [amiId] });
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([due.id]);
    expect(report.notes).toEqual([{ generationId: due.id, note: expect.stringContaining(amiId) }]);
    expect(world.pruner.deletes).toEqual(snapshotIds(due));
  });
});

describe('prune: crash safety', () => {
  async function interrupted() {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 3 });
    store(world, [due, world.newest]);
    world.pruner.failOnDelete = 2; // the first delete succeeds, then the "Lambda" dies
    const first = await world.reconcile();
    expect(first.pruned).toEqual([]);
    expect(first.held).toEqual([{ generationId: due.id, reason: expect.stringContaining('prune failed') }]);
    return { ...world, due, firstPassAt: world.clock.now().toISOString() };
  }

  it('resumes an interrupted prune on the next pass and deletes every snapshot exactly once', async () => {
    const world = await interrupted();
    const { due } = world;
    const half = await stored(world, due.id);
    expect(half.pruneStartedAt).toBe(world.firstPassAt);
    expect(half.deletedAt).toBeUndefined();
    expect(await world.catalog.openGenerations()).toEqual([expect.objectContaining({ id: due.id })]);

    world.clock.advance(3_600_000);
    const second = await world.reconcile();

    expect(second.pruned.map((p) => p.generationId)).toEqual([due.id]);
    expect([...world.pruner.deletes].sort()).toEqual([...snapshotIds(due)].sort());
    const done = await stored(world, due.id);
    expect(done.pruneStartedAt).toBe(world.firstPassAt);
    expect(done.deletedAt).toBe(world.clock.now().toISOString());
    expect(await world.catalog.openGenerations()).toEqual([]);
    // A third pass has nothing left to do.
    expect((await world.reconcile()).pruned).toEqual([]);
    expect(world.pruner.deletes).toHaveLength(snapshotIds(due).length);
  });

  it('writes deletedAt only after the last delete', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 3 });
    store(world, [due, world.newest]);
    const deletesWhenMarked: number[] = [];
    world.catalog.faults.onCall('update', (generation) => {
      if (generation.deletedAt) deletesWhenMarked.push(world.pruner.deletes.length);
    });
    world.pruner.failOnDelete = 3;
    await prunePass(world);
    expect(deletesWhenMarked).toEqual([]);
    await prunePass(world);
    expect(deletesWhenMarked).toEqual([3]);
  });

  it('does not blame an operator for a snapshot its own interrupted prune deleted', async () => {
    const world = await interrupted();
    const [deletedBeforeTheCrash] = snapshotIds(world.due);
    const second = await world.reconcile();
    expect(second.pruned.map((p) => p.generationId)).toEqual([world.due.id]);
    const blamed = second.notes.filter(
      (n) => n.note.includes(deletedBeforeTheCrash ?? '') && n.note.includes('outside snapkeeper'),
    );
    expect(blamed).toEqual([]);
  });

  it('keeps pruning the other generations when one fails', async () => {
    const world = withVolume();
    const a = aGenerationOn(9, { volumeId: world.volumeId, expiresAt: '2026-11-19T00:00:00.000Z' });
    const b = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    store(world, [a, b, world.newest]);
    world.pruner.failOnDelete = 1;
    const report = await prunePass(world);
    expect(report.held).toEqual([{ generationId: a.id, reason: expect.stringContaining('prune failed') }]);
    expect(report.pruned.map((p) => p.generationId)).toEqual([b.id]);
    expect(world.log.messages('error')).toContain('prune failed');
    // The error itself is logged, not its message, so the log keeps its cause and stack.
    const logged = world.log.entries.find((e) => e.message === 'prune failed')?.data?.error;
    expect(logged).toBeInstanceOf(Error);
  });
});

describe('prune: never by guesswork', () => {
  it.each([
    ['its policy', { policy: 'retired' }],
    ['its schedule', { schedule: 'hourly' }],
  ])('holds a generation when %s is no longer in the config', async (_, fields) => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, ...fields });
    store(world, [due, world.newest]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([
      { generationId: due.id, reason: expect.stringContaining('no longer in the config') },
    ]);
    expect(world.pruner.deletes).toEqual([]);
    expect((await stored(world, due.id)).heldBecause).toContain('no longer in the config');
  });

  it('never prunes a pending generation, even one carrying a past expiry', async () => {
    const world = withVolume();
    const pending = aGenerationOn(10, {
      volumeId: world.volumeId,
      expiresAt: EXPIRED,
      state: 'pending',
      retentionAppliedAt: undefined,
    });
    store(world, [pending, world.newest]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([{ generationId: pending.id, reason: expect.stringContaining('not final') }]);
    expect(world.pruner.deletes).toEqual([]);
    expect((await stored(world, pending.id)).pruneStartedAt).toBeUndefined();
  });

  it('does not touch a generation before its expiry', async () => {
    const world = withVolume();
    const later = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: dayAt(20, '12:00:00.001') });
    store(world, [later, world.newest]);
    const report = await prunePass(world);
    expect(report).toEqual({ pruned: [], held: [], notes: [] });
    world.clock.set(dayAt(20, '12:00:00.001'));
    expect((await prunePass(world)).pruned.map((p) => p.generationId)).toEqual([later.id]);
  });
});
