import { describe, expect, it } from 'vitest';
import type { Config } from '#core/config/config.ts';
import { queueCopies, retryCopy } from '#core/copies/queue.ts';
import { copyBatch, copyStep } from '#core/copies/step.ts';
import { CopyRefusedError, InputError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { FakeCopyQueue, FakeCopySlots } from '../../support/fake-copies.ts';
import { type FakeCopyOptions, FakeCopyService } from '../../support/fake-copy-service.ts';
import { aConfig, anId, aPolicy, aWorld } from '../../support/fakes.ts';
import { aGenerationOn, seededRandom, store } from '../../support/lifecycle-builders.ts';

const DR = 'us-west-2';
const MINUTE = 60_000;

function world(config: Config, now: string, service: Partial<FakeCopyOptions> = {}) {
  const w = aWorld({ config, now });
  const slots = new FakeCopySlots();
  const queue = new FakeCopyQueue(w.clock);
  const copies = new FakeCopyService({ clock: w.clock, durationMs: () => 10 * MINUTE, ...service });
  const deps = {
    config,
    catalog: w.catalog,
    copies,
    slots,
    clock: w.clock,
    log: w.log,
    markKey: w.markKey,
    random: seededRandom(1).next,
    copyQueue: queue,
  };
  let ids = 0;
  return {
    ...w,
    slots,
    queue,
    copies,
    deps,
    /** The copy worker every 15 s of the clock; true when the queue emptied within `hours`. */
    async settles(hours: number): Promise<boolean> {
      for (let t = 0; t < (hours * 3600) / 15; t += 1) {
        const batch = queue
          .take(w.clock.now().toISOString())
          .map((m) => ({ id: `m${++ids}`, message: { generationId: m.generationId, region: m.region } }));
        await copyBatch(deps, batch);
        if (queue.waiting().length === 0) return true;
        w.clock.advance(15_000);
      }
      return false;
    },
    async state(g: Generation) {
      return (await w.catalog.get(g.id))?.copies.find((c) => c.region === DR)?.state;
    },
  };
}

// Regressions found by review: each test failed against the first version of the copy worker.
describe('copy worker regressions', () => {
  it('orders two generations of one target scheduled at the same instant by id, instead of each waiting for the other', async () => {
    // The SPEC example fires `hourly` and `daily` both at 03:00; here both are copied to the DR Region.
    const config = aConfig({
      policies: [
        aPolicy({
          targets: 'volumes',
          schedules: [
            { name: 'hourly', expression: 'cron(0 * * * ? *)', keep: { count: 24 } },
            { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } },
          ],
          copies: [{ region: DR }],
        }),
      ],
    });
    const w = world(config, '2026-11-21T03:10:00.000Z');
    const volumeId = anId('vol');
    const hourly = aGenerationOn(20, { volumeId, schedule: 'hourly' });
    const daily = aGenerationOn(20, { volumeId, schedule: 'daily' });
    store(w, [hourly, daily]);
    await queueCopies(w.deps, hourly);
    await queueCopies(w.deps, daily);
    expect(await w.settles(6)).toBe(true);
    expect([await w.state(hourly), await w.state(daily)]).toEqual(['completed', 'completed']);
  });

  it('makes a copy final once the siblings of its refused snapshot finish', async () => {
    const w = world(
      aConfig({ policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR }] })] }),
      '2026-11-21T03:10:00.000Z',
    );
    const generation = aGenerationOn(20, { volumes: 2 });
    store(w, [generation]);
    w.copies.faults.failNext('copySnapshot', {
      when: (r) => r.sourceSnapshotId === generation.snapshots[1]?.snapshotId,
      error: new CopyRefusedError('refused', 'InvalidSnapshot.NotFound'),
    });
    await queueCopies(w.deps, generation);
    const settled = await w.settles(6);
    expect(await w.state(generation)).toBe('failed');
    expect(settled).toBe(true);
  });

  it('follows started copies to the end while waiting for an older copy, freeing their slots', async () => {
    const config = aConfig({
      copyQueue: { maxInFlight: 1 },
      policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR }] })],
    });
    const w = world(config, '2026-11-21T09:30:00.000Z');
    const volumeId = anId('vol');
    // The older generation's first snapshot took hours: past stuckAfterMinutes the younger one stopped waiting.
    const older = aGenerationOn(20, { volumeId, state: 'pending' });
    const younger = aGenerationOn(20, {
      volumeId,
      scheduledAt: '2026-11-21T04:00:00.000Z',
      takenAt: '2026-11-21T04:00:05.000Z',
    });
    store(w, [older, younger]);
    await queueCopies(w.deps, younger);
    await copyStep({ ...w.deps, holder: 'x' }, { generationId: younger.id, region: DR });
    // Then it completed, and reconcile queued its copy.
    await w.catalog.recordOutcome({ ...older, state: 'completed' });
    await queueCopies(w.deps, { ...older, state: 'completed' });
    expect(await w.settles(6)).toBe(true);
    expect([await w.state(older), await w.state(younger)]).toEqual(['completed', 'completed']);
  });

  it('counts an AMI copy as one slot per snapshot behind it', async () => {
    const config = aConfig({
      copyQueue: { maxInFlight: 3 },
      policies: [aPolicy({ copies: [{ region: DR }] })],
    });
    const devices = ['/dev/xvda', '/dev/sdf', '/dev/sdg'];
    const w = world(config, '2026-11-21T03:10:00.000Z', {
      imageDevices: (id) => devices.map((deviceName, i) => ({ deviceName, sourceSnapshotId: `${id}-${i}` })),
    });
    for (let n = 0; n < 3; n += 1) {
      const amiId = `ami-0${n}`.padEnd(21, '0');
      const taken = aGenerationOn(20, { volumes: 3, target: { kind: 'instance', id: anId('i') }, amiId });
      const generation = {
        ...taken,
        snapshots: taken.snapshots.map((s, i) => ({ ...s, amiId, deviceName: devices[i] })),
      };
      store(w, [generation]);
      await queueCopies(w.deps, generation);
    }
    expect(await w.settles(6)).toBe(true);
    // An AMI copy holds a slot per snapshot behind it: one 3-device AMI at a time, never 2 x 3.
    expect(w.copies.maxInFlight(DR)).toBe(3);
  });

  it('frees the slot of a duplicate that adopted an already completed copy', async () => {
    const w = world(
      aConfig({ policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR }] })] }),
      '2026-11-21T03:10:00.000Z',
    );
    const generation = aGenerationOn(20);
    store(w, [generation]);
    await queueCopies(w.deps, generation);
    const stale = await w.catalog.get(generation.id);
    await copyStep({ ...w.deps, holder: 'm1' }, { generationId: generation.id, region: DR });
    w.clock.advance(10 * MINUTE);
    await copyStep({ ...w.deps, holder: 'm1b' }, { generationId: generation.id, region: DR });
    let reads = 0;
    const catalog = Object.create(w.catalog) as typeof w.catalog;
    catalog.get = async (id: string) => (reads++ === 0 ? structuredClone(stale) : w.catalog.get(id));
    await copyStep({ ...w.deps, catalog, holder: 'm2' }, { generationId: generation.id, region: DR });
    expect((await w.slots.held(DR)).size).toBe(0);
  });

  it('records copies a stale duplicate started over a failed record, so pruning finds them', async () => {
    const w = world(
      aConfig({ policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR }] })] }),
      '2026-11-21T03:10:00.000Z',
    );
    const generation = aGenerationOn(20, { volumes: 2 });
    store(w, [generation]);
    await queueCopies(w.deps, generation);
    const stale = await w.catalog.get(generation.id);
    w.copies.faults.failNext('copySnapshot', { error: new CopyRefusedError('refused', 'KMS key unusable') });
    await copyStep({ ...w.deps, holder: 'm1' }, { generationId: generation.id, region: DR });
    expect(await w.state(generation)).toBe('failed');
    let reads = 0;
    const catalog = Object.create(w.catalog) as typeof w.catalog;
    catalog.get = async (id: string) => (reads++ === 0 ? structuredClone(stale) : w.catalog.get(id));
    await copyStep({ ...w.deps, catalog, holder: 'm2' }, { generationId: generation.id, region: DR });
    const recorded = (await w.catalog.get(generation.id))?.copies[0]?.snapshotIds ?? [];
    const inRegion = [...w.copies.copies.values()].filter((c) => c.region === DR).map((c) => c.id);
    expect(inRegion.filter((id) => !recorded.includes(id))).toEqual([]);
  });
});

describe('copy operations', () => {
  const volumes = aConfig({ policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR }] })] });

  it('fails a queued copy whose rule was removed before it started, so it no longer holds the source', async () => {
    const w = world(volumes, '2026-11-21T03:10:00.000Z');
    const generation = aGenerationOn(20);
    store(w, [generation]);
    await queueCopies(w.deps, generation);
    const withoutRule = aConfig({ policies: [aPolicy({ targets: 'volumes' })] });
    const step = await copyStep(
      { ...w.deps, config: withoutRule, holder: 'm1' },
      { generationId: generation.id, region: DR },
    );
    expect(step).toMatchObject({ outcome: 'done', state: 'failed' });
    expect((await w.catalog.get(generation.id))?.copies[0]?.failure).toMatch(/copy rule .* was removed/);
    expect(w.copies.started(DR)).toBe(0);
  });

  it('retries only a failed copy whose rule is in the config, keeping what had completed', async () => {
    const w = world(volumes, '2026-11-21T03:10:00.000Z');
    const generation = aGenerationOn(20, { volumes: 2 });
    store(w, [generation]);
    await queueCopies(w.deps, generation);
    await expect(retryCopy(w.deps, generation.id, DR)).rejects.toThrow(
      /is queued; only a failed copy is retried/,
    );
    await expect(retryCopy(w.deps, generation.id, 'eu-west-1')).rejects.toBeInstanceOf(InputError);
    w.copies.faults.failNext('copySnapshot', { error: new CopyRefusedError('refused', 'KMS key unusable') });
    expect(await w.settles(2)).toBe(true);
    const failed = (await w.catalog.get(generation.id))?.copies[0];
    expect(failed?.state).toBe('failed');
    const queued = await retryCopy(w.deps, generation.id, DR);
    expect(queued.state).toBe('queued');
    expect(queued.snapshots.filter((s) => s.state === 'completed')).toEqual(
      failed?.snapshots.filter((s) => s.state === 'completed'),
    );
    expect(await w.settles(2)).toBe(true);
    expect(await w.state(generation)).toBe('completed');
  });
});
