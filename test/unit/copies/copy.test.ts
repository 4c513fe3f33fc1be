import { describe, expect, it } from 'vitest';
import type { Config } from '#core/config/config.ts';
import type { CopyMessage } from '#core/copies/ports.ts';
import { queueCopies } from '#core/copies/queue.ts';
import { slotKey } from '#core/copies/record.ts';
import { copyBatch, copyStep, SLOT_STALE_MS } from '#core/copies/step.ts';
import { CopyRefusedError } from '#core/model/errors.ts';
import type { CopyRecord, Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { FakeCopyQueue, FakeCopySlots } from '../../support/fake-copies.ts';
import { type FakeCopyOptions, FakeCopyService } from '../../support/fake-copy-service.ts';
import { aConfig, anId, aPolicy, aWorld } from '../../support/fakes.ts';
import {
  aGenerationOn,
  copyMark,
  plusDays,
  prunePass,
  seededRandom,
  store,
} from '../../support/lifecycle-builders.ts';

const DR = 'us-west-2';
const EU = 'eu-west-1';
/** Ten minutes after the day-20 generations (`2026-11-21T03:00:05Z`) were taken. */
const NOW = '2026-11-21T03:10:00.000Z';
const MINUTE = 60_000;

/** `daily` over volumes, copied to `us-west-2` with a KMS key there, and to any other Regions given. */
function copyConfig(
  copyQueue: { maxInFlight?: number; maxInFlightByRegion?: Record<string, number> } = {},
  regions: string[] = [DR],
): Config {
  return aConfig({
    copyQueue,
    policies: [
      aPolicy({
        targets: 'volumes',
        copies: regions.map((region) => ({ region, kmsKeyId: `alias/dr-${region}` })),
        tags: { Backup: '$(policy)-$(schedule)' },
      }),
    ],
  });
}

/**
 * The fakes of a world, plus the copy worker's: slots, the queue and EC2's copy API on the world's clock. Copies
 * take `durationMs` (default ten minutes) and EBS allows `limit` in flight per Region (default 20).
 */
function aCopyWorld(options: { config?: Config; service?: Partial<FakeCopyOptions> } = {}) {
  const config = options.config ?? copyConfig();
  const world = aWorld({ config, now: NOW });
  const slots = new FakeCopySlots();
  const queue = new FakeCopyQueue(world.clock);
  const service = new FakeCopyService({
    clock: world.clock,
    durationMs: () => 10 * MINUTE,
    ...options.service,
  });
  const deps = {
    config,
    catalog: world.catalog,
    copies: service,
    slots,
    clock: world.clock,
    log: world.log,
    markKey: world.markKey,
    random: seededRandom(42).next,
    copyQueue: queue,
  };
  let messageIds = 0;
  /** Delivers every visible message once, each with a new message id, as SQS does. */
  const deliver = () =>
    copyBatch(
      deps,
      queue.take(world.clock.now().toISOString()).map((m) => ({
        id: `msg-${++messageIds}`,
        message: { generationId: m.generationId, region: m.region },
      })),
    );
  return {
    ...world,
    config,
    slots,
    queue,
    service,
    deps,
    deliver,
    /** Queues a generation's copies as its run does: the message sent, the record written. */
    queueCopiesOf: (generation: Generation) => queueCopies(deps, generation),
    step: (message: CopyMessage, holder = 'msg-direct') => copyStep({ ...deps, holder }, message),
    /**
     * The copy worker run every `tickMs` on the clock until the queue is empty; `check` runs after every batch.
     * Throws if it does not settle within `maxTicks`.
     */
    async drain(options: { tickMs?: number; maxTicks?: number; check?: () => Promise<void> | void } = {}) {
      const steps: Awaited<ReturnType<typeof deliver>>['steps'] = [];
      for (let tick = 0; tick < (options.maxTicks ?? 2_000); tick += 1) {
        const batch = await deliver();
        expect(batch.failed).toEqual([]);
        steps.push(...batch.steps);
        await options.check?.();
        if (queue.waiting().length === 0) return steps;
        world.clock.advance(options.tickMs ?? 15_000);
      }
      throw new Error('the copy queue did not settle');
    },
    async copyOf(generation: Generation, region = DR): Promise<CopyRecord> {
      const copy = (await world.catalog.get(generation.id))?.copies.find((c) => c.region === region);
      if (!copy) throw new Error(`no copy of ${generation.id} to ${region}`);
      return copy;
    },
  };
}

type CopyWorld = ReturnType<typeof aCopyWorld>;

/** A completed generation of a new volume taken on Nov 21 (day 20) at 03:00:05, in the world's catalog. */
function aStoredGeneration(world: CopyWorld, fields: Parameters<typeof aGenerationOn>[1] = {}): Generation {
  const generation = aGenerationOn(20, fields);
  store(world, [generation]);
  return generation;
}

const messageOf = (generation: Generation, region = DR): CopyMessage => ({
  generationId: generation.id,
  region,
});

describe('copyStep: one copy from start to finish', () => {
  it('starts the copy of a completed generation tagged at creation, with the rule KMS key', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    const [source] = generation.snapshots;
    await world.queueCopiesOf(generation);

    const step = await world.step(messageOf(generation));

    expect(step).toMatchObject({ outcome: 'wait', reason: 'copies in progress' });
    const [started] = [...world.service.copies.values()];
    expect(world.service.copies.size).toBe(1);
    expect(started).toMatchObject({
      kind: 'snapshot',
      region: DR,
      sourceRegion: 'us-east-1',
      sourceId: source?.snapshotId,
      kmsKeyId: 'alias/dr-us-west-2',
    });
    expect(started?.tags).toEqual({
      Name: 'data',
      Team: 'payments',
      Backup: 'daily-daily',
      [TAG.managed]: 'true',
      [TAG.policy]: 'daily',
      [TAG.schedule]: 'daily',
      [TAG.generation]: generation.id,
      [TAG.sourceVolume]: source?.volumeId,
      [TAG.sourceSnapshot]: source?.snapshotId,
      [TAG.sourceRegion]: 'us-east-1',
      // Marked for its generation, its source and the Region it is made in.
      [TAG.mark]: copyMark(generation, source?.snapshotId ?? '', DR),
    });
  });

  it('records the copy queued, then pending, then completed with its lag, and frees its slot', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);
    expect(await world.copyOf(generation)).toMatchObject({
      state: 'queued',
      queuedAt: NOW,
      snapshotIds: [],
      snapshots: [{ sourceSnapshotId: generation.snapshots[0]?.snapshotId, state: 'waiting' }],
    });

    await world.deliver();
    const copyId = [...world.service.copies.keys()][0] as string;
    expect(await world.copyOf(generation)).toMatchObject({
      state: 'pending',
      startedAt: NOW,
      snapshotIds: [copyId],
      snapshots: [{ snapshotId: copyId, state: 'pending' }],
    });
    expect([...(await world.slots.held(DR)).keys()]).toEqual([
      slotKey(generation.id, generation.snapshots[0]?.snapshotId ?? ''),
    ]);

    world.clock.advance(10 * MINUTE);
    const steps = await world.drain();

    expect(steps.at(-1)).toMatchObject({ outcome: 'done', state: 'completed' });
    const done = await world.copyOf(generation);
    const completedAt = done.completedAt as string;
    expect(done).toMatchObject({ state: 'completed', snapshotIds: [copyId] });
    expect(done.lagSeconds).toBe((Date.parse(completedAt) - Date.parse(generation.takenAt ?? '')) / 1000);
    expect(done.lagSeconds).toBeGreaterThanOrEqual(20 * 60 - 5);
    expect((await world.slots.held(DR)).size).toBe(0);
  });

  it('drops a message once its copy is final, without calling EC2', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);
    await world.deliver();
    world.clock.advance(10 * MINUTE);
    await world.drain();
    const calls = world.service.calls.length;

    expect(await world.step(messageOf(generation))).toEqual({
      outcome: 'done',
      generationId: generation.id,
      region: DR,
      state: 'completed',
    });
    expect(world.service.calls.length).toBe(calls);
    expect(world.log.messages('info').filter((m) => m === 'copy completed')).toHaveLength(1);
  });

  it('writes the record itself when the message came without one (the sender stopped after sending)', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queue.send([messageOf(generation)]);
    await world.drain();
    expect(await world.copyOf(generation)).toMatchObject({ state: 'completed', queuedAt: NOW });
    expect(world.service.started(DR)).toBe(1);
  });
});

describe('copyStep: messages with nothing to copy', () => {
  it('drops a message for a generation the catalog does not have', async () => {
    const world = aCopyWorld();
    const step = await world.step({ generationId: 'gen-20261121T030000-0000000000', region: DR });
    expect(step).toEqual({ outcome: 'done', generationId: 'gen-20261121T030000-0000000000', region: DR });
    expect(world.service.calls).toEqual([]);
    expect(world.log.messages('warn')).toContain('copy dropped: no such generation');
  });

  it('drops a message for a Region no copy rule names, writing no record', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    const step = await world.step(messageOf(generation, EU));
    expect(step).toMatchObject({ outcome: 'done', region: EU });
    expect(step).not.toHaveProperty('state', expect.anything());
    expect((await world.catalog.get(generation.id))?.copies).toEqual([]);
    expect(world.service.calls).toEqual([]);
  });

  it('drops a message for a generation that is not completed', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world, { state: 'failed' });
    expect(await world.step(messageOf(generation))).toMatchObject({ outcome: 'done' });
    expect((await world.catalog.get(generation.id))?.copies).toEqual([]);
    expect(world.service.calls).toEqual([]);
  });
});

describe('copyStep: the Region quota', () => {
  it('never has more than maxInFlight copies in flight per Region, the rest waiting and sent again', async () => {
    const config = copyConfig({ maxInFlight: 3, maxInFlightByRegion: { [EU]: 2 } }, [DR, EU]);
    const random = seededRandom(7);
    const world = aCopyWorld({ config, service: { durationMs: () => random.int(5, 20) * MINUTE } });
    const generations = Array.from({ length: 12 }, () => aStoredGeneration(world));
    for (const generation of generations) await world.queueCopiesOf(generation);

    const heldMost = { [DR]: 0, [EU]: 0 };
    const steps = await world.drain({
      check: async () => {
        for (const region of [DR, EU] as const) {
          heldMost[region] = Math.max(heldMost[region], (await world.slots.held(region)).size);
        }
      },
    });

    expect(heldMost).toEqual({ [DR]: 3, [EU]: 2 });
    expect(world.service.maxInFlight(DR)).toBe(3);
    expect(world.service.maxInFlight(EU)).toBe(2);
    expect(world.service.limitErrors(DR) + world.service.limitErrors(EU)).toBe(0);
    for (const generation of generations) {
      expect((await world.copyOf(generation, DR)).state).toBe('completed');
      expect((await world.copyOf(generation, EU)).state).toBe('completed');
    }
    expect(world.service.started(DR)).toBe(12);
    expect(world.service.started(EU)).toBe(12);
    const full = steps.filter((s) => s.outcome === 'wait' && s.reason.startsWith('all 3 copy slots of'));
    expect(full.length).toBeGreaterThan(0);
    const resent = world.queue.sent.filter((m) => m.delaySeconds > 0);
    expect(resent.length).toBe(steps.filter((s) => s.outcome === 'wait').length);
    expect(steps.some((s) => s.outcome === 'done' && s.state === 'failed')).toBe(false);
  });

  it('waits, keeping its slot until it goes stale, when EC2 says the Region copy quota is full', async () => {
    const world = aCopyWorld({ service: { limit: 1 } });
    // Someone else copies into the Region too: EC2's quota is full though every snapkeeper slot is free.
    await world.service.copySnapshot({
      region: DR,
      sourceRegion: 'us-east-1',
      sourceSnapshotId: anId('snap'),
      tags: {},
      description: 'not ours',
    });
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);

    const step = await world.step(messageOf(generation));

    expect(step).toMatchObject({
      outcome: 'wait',
      reason: expect.stringContaining(`${DR} answered its copy quota is full`),
    });
    expect(world.service.limitErrors(DR)).toBe(1);
    // The slot stands in for the copy EC2 says is running elsewhere, so the next waiting copy is not refused too.
    expect((await world.slots.held(DR)).size).toBe(1);
    expect(await world.step(messageOf(generation), 'msg-retry')).toMatchObject({
      reason: expect.stringContaining('is held (another worker is starting it'),
    });
    expect(world.service.limitErrors(DR)).toBe(1);
    expect(await world.copyOf(generation)).toMatchObject({
      state: 'queued',
      snapshots: [{ state: 'waiting' }],
    });
    expect(world.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'copy deferred',
        data: expect.objectContaining({ refusal: 'limit' }),
      }),
    );

    world.clock.advance(10 * MINUTE);
    await world.drain();
    expect((await world.copyOf(generation)).state).toBe('completed');
  });

  it('copies everything, failing nothing, when EC2 allows fewer copies than the slots', async () => {
    const world = aCopyWorld({ config: copyConfig({ maxInFlight: 20 }), service: { limit: 2 } });
    const generations = Array.from({ length: 8 }, () => aStoredGeneration(world));
    for (const generation of generations) await world.queueCopiesOf(generation);
    await world.drain();
    expect(world.service.limitErrors(DR)).toBeGreaterThan(0);
    expect(world.service.maxInFlight(DR)).toBe(2);
    for (const generation of generations) expect((await world.copyOf(generation)).state).toBe('completed');
    expect((await world.slots.held(DR)).size).toBe(0);
  });

  it('waits longer, with its slot given back, when EC2 throttles the copy call', async () => {
    const world = aCopyWorld();
    world.service.faults.failNext('copySnapshot', {
      error: new CopyRefusedError('throttled', 'CopySnapshot: RequestLimitExceeded: Request limit exceeded.'),
    });
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);

    const step = await world.step(messageOf(generation));

    expect(step).toMatchObject({ outcome: 'wait', reason: `throttled by EC2 in ${DR}` });
    // 120 s, spread by ±25 %.
    expect(step.outcome === 'wait' && step.retryAfterSeconds).toBeGreaterThanOrEqual(90);
    expect(step.outcome === 'wait' && step.retryAfterSeconds).toBeLessThanOrEqual(150);
    expect((await world.slots.held(DR)).size).toBe(0);
    expect((await world.copyOf(generation)).state).toBe('queued');

    await world.queue.send([messageOf(generation)]);
    await world.drain();
    expect((await world.copyOf(generation)).state).toBe('completed');
  });

  it('copies everything when a third of the copy calls are throttled', async () => {
    const world = aCopyWorld({
      config: copyConfig({ maxInFlight: 4 }),
      service: { throttleProbability: 0.3, seed: 11 },
    });
    const generations = Array.from({ length: 10 }, () => aStoredGeneration(world));
    for (const generation of generations) await world.queueCopiesOf(generation);
    await world.drain();
    expect(world.service.throttled(DR)).toBeGreaterThan(0);
    expect(world.service.maxInFlight(DR)).toBeLessThanOrEqual(4);
    for (const generation of generations) expect((await world.copyOf(generation)).state).toBe('completed');
    expect(world.service.started(DR)).toBe(10);
  });
});

describe('copyStep: a copy EC2 refuses for good', () => {
  function refusedWorld() {
    const world = aCopyWorld();
    world.service.faults.failNext('copySnapshot', {
      error: new CopyRefusedError('refused', 'InvalidSnapshot.NotFound: the snapshot does not exist'),
    });
    const generation = aStoredGeneration(world, { expiresAt: '2026-11-21T03:00:05.000Z' });
    return { world, generation };
  }

  it('records the copy failed with the reason, and frees its slot', async () => {
    const { world, generation } = refusedWorld();
    await world.queueCopiesOf(generation);
    const step = await world.step(messageOf(generation));
    expect(step).toMatchObject({ outcome: 'done', state: 'failed' });
    const copy = await world.copyOf(generation);
    expect(copy.state).toBe('failed');
    expect(copy.failure).toBe(
      `EC2 refused to copy ${generation.snapshots[0]?.snapshotId} to ${DR}: InvalidSnapshot.NotFound: the snapshot does not exist`,
    );
    expect((await world.slots.held(DR)).size).toBe(0);
    expect(world.log.messages('error')).toContain('copy failed');
  });

  it('keeps the primary snapshots, held by prune with that reason', async () => {
    const { world, generation } = refusedWorld();
    const newer = aGenerationOn(21, { volumeId: generation.snapshots[0]?.volumeId });
    store(world, [newer]);
    await world.queueCopiesOf(generation);
    await world.step(messageOf(generation));
    world.clock.set(plusDays(NOW, 2));

    const report = await prunePass(world);

    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([
      {
        generationId: generation.id,
        reason: expect.stringContaining(
          `its copy to ${DR} failed (EC2 refused to copy ${generation.snapshots[0]?.snapshotId} to ${DR}: InvalidSnapshot.NotFound`,
        ),
      },
    ]);
    expect(world.pruner.deletes).toEqual([]);
  });
});

describe('copyStep: copies of one target go in generation order', () => {
  it('holds a younger generation back while an older one of the same target copies to the Region', async () => {
    const world = aCopyWorld();
    const volumeId = anId('vol');
    const older = aGenerationOn(19, { volumeId });
    const younger = aGenerationOn(20, { volumeId });
    const otherTarget = aGenerationOn(20);
    store(world, [older, younger, otherTarget]);
    for (const generation of [younger, older, otherTarget]) await world.queueCopiesOf(generation);

    const first = await world.deliver();

    expect(first.steps).toEqual([
      expect.objectContaining({
        generationId: younger.id,
        outcome: 'wait',
        reason: `older generation ${older.id} of ${volumeId} is still copying to ${DR}`,
      }),
      expect.objectContaining({ generationId: older.id, reason: 'copies in progress' }),
      expect.objectContaining({ generationId: otherTarget.id, reason: 'copies in progress' }),
    ]);
    const started = [...world.service.copies.values()].map((c) => c.sourceId);
    expect(started).toEqual([older.snapshots[0]?.snapshotId, otherTarget.snapshots[0]?.snapshotId]);

    await world.drain();
    const olderCopy = await world.copyOf(older);
    const youngerCopy = await world.copyOf(younger);
    expect(youngerCopy.state).toBe('completed');
    expect(
      youngerCopy.startedAt && olderCopy.completedAt && youngerCopy.startedAt >= olderCopy.completedAt,
    ).toBe(true);
  });

  it('waits for an older generation of the target still being taken, unless it is stuck', async () => {
    const world = aCopyWorld();
    const volumeId = anId('vol');
    const taking = aGenerationOn(20, { volumeId, state: 'pending', claimedAt: '2026-11-21T03:00:00.000Z' });
    const younger = aGenerationOn(20, {
      volumeId,
      scheduledAt: '2026-11-21T03:05:00.000Z',
      takenAt: '2026-11-21T03:05:05.000Z',
    });
    store(world, [taking, younger]);
    await world.queueCopiesOf(younger);

    expect(await world.step(messageOf(younger))).toMatchObject({
      outcome: 'wait',
      reason: expect.stringContaining(`older generation ${taking.id}`),
    });
    // Pending past reconcile.stuckAfterMinutes (360): nothing waits for it any more.
    world.clock.set('2026-11-21T09:00:00.000Z');
    expect(await world.step(messageOf(younger))).toMatchObject({ reason: 'copies in progress' });
  });

  it('does not wait for an older generation that was not copied to the Region', async () => {
    const world = aCopyWorld();
    const volumeId = anId('vol');
    const older = aGenerationOn(19, { volumeId, state: 'failed' });
    const younger = aGenerationOn(20, { volumeId });
    store(world, [older, younger]);
    await world.queueCopiesOf(younger);
    expect(await world.step(messageOf(younger))).toMatchObject({ reason: 'copies in progress' });
  });
});

describe('copyStep: idempotence', () => {
  it('adopts a copy already in the Region tagged with the generation and source, instead of copying twice', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    const source = generation.snapshots[0]?.snapshotId as string;
    await world.queueCopiesOf(generation);
    // A worker that died after its copy call, before recording it.
    const orphan = await world.service.copySnapshot({
      region: DR,
      sourceRegion: 'us-east-1',
      sourceSnapshotId: source,
      tags: { [TAG.managed]: 'true', [TAG.generation]: generation.id, [TAG.sourceSnapshot]: source },
      description: 'left behind',
    });

    await world.step(messageOf(generation));

    expect(world.service.count('copySnapshot')).toBe(1);
    expect(await world.copyOf(generation)).toMatchObject({ state: 'pending', snapshotIds: [orphan] });
  });

  it('adopts the copy of a worker that died before recording it, when SQS delivers the message again', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);
    world.catalog.faults.failNext('updateCopy', { error: new Error('the worker timed out') });
    const delivered = [{ id: 'msg-1', message: messageOf(generation) }];

    const crashed = await copyBatch(world.deps, delivered);
    expect(crashed.failed).toEqual([{ id: 'msg-1', error: expect.stringContaining('the worker timed out') }]);
    expect(world.service.count('copySnapshot')).toBe(1);
    expect((await world.copyOf(generation)).state).toBe('queued');

    world.clock.advance(MINUTE);
    const again = await copyBatch(world.deps, delivered);
    expect(again.failed).toEqual([]);
    expect(world.service.count('copySnapshot')).toBe(1);
    const copyId = [...world.service.copies.keys()][0];
    expect(await world.copyOf(generation)).toMatchObject({ state: 'pending', snapshotIds: [copyId] });
  });

  it('takes over the slot of a worker that died once it is stale, and adopts its copy', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);
    world.catalog.faults.failNext('updateCopy', { error: new Error('the worker timed out') });
    await expect(world.step(messageOf(generation), 'msg-1')).rejects.toThrow('the worker timed out');

    // Another message for the copy (reconcile's, or the worker's own resend) while the dead worker's slot is fresh.
    expect(await world.step(messageOf(generation), 'msg-2')).toMatchObject({
      outcome: 'wait',
      reason: expect.stringContaining('is held (another worker is starting it'),
    });
    world.clock.advance(SLOT_STALE_MS);
    expect(await world.step(messageOf(generation), 'msg-3')).toMatchObject({ reason: 'copies in progress' });
    expect(world.service.count('copySnapshot')).toBe(1);
    expect(
      (await world.slots.held(DR)).get(slotKey(generation.id, generation.snapshots[0]?.snapshotId ?? '')),
    ).toMatchObject({ holder: 'msg-3' });
  });

  it('starts one copy when the same message is delivered twice at once', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world, { volumes: 3 });
    await world.queueCopiesOf(generation);

    const steps = await Promise.all([
      world.step(messageOf(generation), 'msg-1'),
      world.step(messageOf(generation), 'msg-1-duplicate'),
    ]);

    expect(steps.map((s) => s.outcome)).toEqual(['wait', 'wait']);
    expect(world.service.count('copySnapshot')).toBe(3);
    const sources = [...world.service.copies.values()].map((c) => c.sourceId).sort();
    expect(sources).toEqual(generation.snapshots.map((s) => s.snapshotId).sort());
    const copy = await world.copyOf(generation);
    expect(copy.snapshotIds.sort()).toEqual([...world.service.copies.keys()].sort());
    expect(copy.snapshots.every((s) => s.state === 'pending')).toBe(true);

    world.clock.advance(10 * MINUTE);
    await world.queue.send([messageOf(generation), messageOf(generation)]);
    await world.drain();
    expect((await world.copyOf(generation)).state).toBe('completed');
    expect(world.service.started(DR)).toBe(3);
  });

  it('starts one copy when a duplicate read the record before the first worker copied and recorded it', async () => {
    const world = aCopyWorld();
    const generation = aStoredGeneration(world);
    await world.queueCopiesOf(generation);
    const stale = await world.catalog.get(generation.id);
    // The first delivery copies to completion; the duplicate then goes on from its stale read.
    await world.step(messageOf(generation), 'msg-1');
    world.clock.advance(10 * MINUTE);
    expect(await world.step(messageOf(generation), 'msg-1-resent')).toMatchObject({ state: 'completed' });
    expect((await world.slots.held(DR)).size).toBe(0);

    let reads = 0;
    const catalog = Object.create(world.catalog) as typeof world.catalog;
    catalog.get = async (id: string) => (reads++ === 0 ? structuredClone(stale) : world.catalog.get(id));
    const duplicate = await copyStep({ ...world.deps, catalog, holder: 'msg-2' }, messageOf(generation));

    expect(world.service.count('copySnapshot')).toBe(1);
    expect(await world.copyOf(generation)).toMatchObject({
      state: 'completed',
      snapshotIds: [[...world.service.copies.keys()][0]],
    });
    // It adopted the finished copy but could not record anything over a final copy: its resend is then dropped.
    expect(duplicate).toMatchObject({ outcome: 'wait' });
    expect(await world.step(messageOf(generation), 'msg-2-resent')).toMatchObject({
      outcome: 'done',
      state: 'completed',
    });
  });

  it('never forgets a copy another worker started meanwhile when it saves from a stale record', async () => {
    // Two slots but room for one copy in EC2: the second source waits for the first copy to finish.
    const world = aCopyWorld({ config: copyConfig({ maxInFlight: 2 }), service: { limit: 1 } });
    const generation = aStoredGeneration(world, { volumes: 2 });
    await world.queueCopiesOf(generation);
    const stale = await world.catalog.get(generation.id);
    await world.step(messageOf(generation), 'msg-1');
    world.clock.advance(10 * MINUTE);
    await world.step(messageOf(generation), 'msg-2');
    const [first, second] = [...world.service.copies.keys()];
    expect((await world.copyOf(generation)).snapshots.map((s) => [s.snapshotId, s.state])).toEqual([
      [first, 'completed'],
      [second, 'pending'],
    ]);

    // A duplicate that read the record before any of this adopts the first copy and meets the second's slot.
    let reads = 0;
    const catalog = Object.create(world.catalog) as typeof world.catalog;
    catalog.get = async (id: string) => (reads++ === 0 ? structuredClone(stale) : world.catalog.get(id));
    await copyStep({ ...world.deps, catalog, holder: 'msg-duplicate' }, messageOf(generation));

    const copy = await world.copyOf(generation);
    expect(copy.snapshotIds).toEqual([first, second]);
    expect(copy.snapshots[1]).toMatchObject({ snapshotId: second, state: 'pending' });
    expect(world.service.started(DR)).toBe(2);
  });
});

describe('copyStep: AMI generations', () => {
  const amiId = 'ami-0123456789abcdef0';

  /** An instance generation: an AMI of its boot and one data volume, and a data volume outside the AMI. */
  function anAmiWorld() {
    const world = aCopyWorld();
    const taken = aGenerationOn(20, { volumes: 3, target: { kind: 'instance', id: anId('i') }, amiId });
    const devices = ['/dev/xvda', '/dev/sdf', '/dev/sdg'];
    const generation: Generation = {
      ...taken,
      snapshots: taken.snapshots.map((s, i) => ({
        ...s,
        deviceName: devices[i],
        ...(i < 2 ? { amiId } : {}),
      })),
    };
    store(world, [generation]);
    const behind = generation.snapshots
      .slice(0, 2)
      .map((s) => ({ deviceName: s.deviceName as string, sourceSnapshotId: s.snapshotId }));
    const service = new FakeCopyService({
      clock: world.clock,
      durationMs: () => 10 * MINUTE,
      imageDevices: (id) => (id === amiId ? behind : []),
    });
    const deps = { ...world.deps, copies: service };
    return { world, generation, service, deps };
  }

  it('copies the AMI once, and the snapshot outside it on its own', async () => {
    const { world, generation, service, deps } = anAmiWorld();
    await queueCopies(deps, generation);
    await copyStep({ ...deps, holder: 'msg-1' }, messageOf(generation));

    expect(service.count('copyImage')).toBe(1);
    expect(service.count('copySnapshot')).toBe(1);
    const image = service.calls.find((c) => c.operation === 'copyImage')?.request;
    expect(image).toMatchObject({
      region: DR,
      sourceImageId: amiId,
      kmsKeyId: 'alias/dr-us-west-2',
      tags: expect.objectContaining({
        [TAG.managed]: 'true',
        [TAG.generation]: generation.id,
        [TAG.sourceImage]: amiId,
        [TAG.sourceRegion]: 'us-east-1',
      }),
    });
    const snapshot = service.calls.find((c) => c.operation === 'copySnapshot')?.request;
    expect(snapshot).toMatchObject({ sourceSnapshotId: generation.snapshots[2]?.snapshotId });
    const pending = await world.copyOf(generation);
    expect(pending.images).toEqual([
      { sourceImageId: amiId, imageId: expect.stringMatching(/^ami-/), state: 'pending' },
    ]);
  });

  it('records the AMI snapshots from the copied image, by device, once it is available', async () => {
    const { world, generation, service, deps } = anAmiWorld();
    await queueCopies(deps, generation);
    await copyStep({ ...deps, holder: 'msg-1' }, messageOf(generation));
    world.clock.advance(10 * MINUTE);
    expect(await copyStep({ ...deps, holder: 'msg-2' }, messageOf(generation))).toMatchObject({
      state: 'completed',
    });

    const imageCopy = [...service.copies.values()].find((c) => c.kind === 'image');
    const dataCopy = [...service.copies.values()].find((c) => c.kind === 'snapshot');
    const byDevice = new Map(imageCopy?.devices.map((d) => [d.deviceName, d.snapshotId]));
    const copy = await world.copyOf(generation);
    expect(copy.snapshots).toEqual([
      expect.objectContaining({
        sourceSnapshotId: generation.snapshots[0]?.snapshotId,
        snapshotId: byDevice.get('/dev/xvda'),
        viaImage: amiId,
        state: 'completed',
      }),
      expect.objectContaining({
        sourceSnapshotId: generation.snapshots[1]?.snapshotId,
        snapshotId: byDevice.get('/dev/sdf'),
        viaImage: amiId,
        state: 'completed',
      }),
      expect.objectContaining({
        sourceSnapshotId: generation.snapshots[2]?.snapshotId,
        snapshotId: dataCopy?.id,
        state: 'completed',
      }),
    ]);
    expect(copy.snapshotIds).toEqual([byDevice.get('/dev/xvda'), byDevice.get('/dev/sdf'), dataCopy?.id]);
    expect(copy.images).toEqual([{ sourceImageId: amiId, imageId: imageCopy?.id, state: 'available' }]);
    expect((await world.slots.held(DR)).size).toBe(0);
  });
});
