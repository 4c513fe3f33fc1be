import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import type { Config } from '#core/config/config.ts';
import { generationId } from '#core/model/generation.ts';
import { markOf } from '#core/model/mark.ts';
import { TAG } from '#core/model/tags.ts';
import { FakeImages } from '../../support/fake-images.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';
import { aConfig, anId, anInstance, aPolicy, aWorld, policyTag } from '../../support/fakes.ts';
import {
  aGenerationOn,
  dayAt,
  plusDays,
  reconcileUnder,
  type World,
} from '../../support/lifecycle-builders.ts';

const MINUTE = 60_000;

/** A world with the `daily` instances policy under `keep`, and one instance tagged for it. */
function withInstance(keep: { count?: number; days?: number }, fields: Parameters<typeof aConfig>[0] = {}) {
  const config = aConfig({
    policies: [aPolicy({ schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep }] })],
    ...fields,
  });
  const world = aWorld({ config, now: dayAt(0) });
  const web = anInstance({ volumes: 2, tags: policyTag('daily') });
  world.ec2.add(web);
  return { ...world, web };
}

/** The run of day `day` at 03:00, its snapshots completing within ten minutes, then a reconcile pass (under `reconcileConfig`). */
async function runDay(
  world: World & { web: ReturnType<typeof anInstance> },
  day: number,
  reconcileConfig: Config = world.config,
) {
  const scheduledAt = dayAt(day);
  world.clock.set(scheduledAt);
  const run = await world.run({ scheduledAt });
  world.clock.advance(10 * MINUTE);
  world.ec2.completeAll();
  const report = await reconcileUnder(world, reconcileConfig);
  return { id: run.results[0]?.generationId ?? '', report, takenAt: scheduledAt };
}

describe('reconcile: retention in the pass', () => {
  it('places each finished generation, sets the expiry of the one it pushes out, and prunes it in the same pass', async () => {
    const world = withInstance({ count: 2 });
    const day0 = await runDay(world, 0);
    expect(day0.report.completed).toEqual([day0.id]);
    expect(day0.report.expiries).toEqual([]);
    const placed = await world.catalog.get(day0.id);
    expect(placed?.retentionAppliedAt).toBe(world.clock.now().toISOString());
    expect(placed?.expiresAt).toBeUndefined();
    expect(await world.catalog.openGenerations()).toEqual([]);

    const day1 = await runDay(world, 1);
    expect(day1.report.expiries).toEqual([]);
    expect(day1.report.pruned).toEqual([]);

    const day2 = await runDay(world, 2);
    // Day 2 is the second completed generation after day 0: day 0 ends when day 2 was taken.
    expect(day2.report.expiries).toEqual([{ generationId: day0.id, expiresAt: day2.takenAt }]);
    expect(day2.report.pruned.map((p) => p.generationId)).toEqual([day0.id]);
    const gone = await world.catalog.get(day0.id);
    expect(gone?.deletedAt).toBe(world.clock.now().toISOString());
    const day0Snapshots = gone?.snapshots.map((s) => s.snapshotId) ?? [];
    expect(day0Snapshots).toHaveLength(2);
    for (const id of day0Snapshots) expect(world.ec2.snapshots.has(id)).toBe(false);
    expect(await world.catalog.openGenerations()).toEqual([]);

    const day3 = await runDay(world, 3);
    expect(day3.report.expiries).toEqual([{ generationId: day1.id, expiresAt: day3.takenAt }]);
    expect(day3.report.pruned.map((p) => p.generationId)).toEqual([day1.id]);
    expect((await world.catalog.get(day2.id))?.expiresAt).toBeUndefined();
  });

  it('sets the right expiries when several generations finish in one pass', async () => {
    const world = withInstance({ count: 1 });
    const ids: string[] = [];
    for (const day of [0, 1, 2]) {
      world.clock.set(dayAt(day));
      ids.push((await world.run({ scheduledAt: dayAt(day) })).results[0]?.generationId ?? '');
    }
    // Reconcile was down for three days; everything completes at once.
    world.clock.set(dayAt(2, '04:00:00.000'));
    world.ec2.completeAll();
    const report = await world.reconcile();
    expect(report.completed).toEqual(ids);
    expect(new Map(report.expiries.map((e) => [e.generationId, e.expiresAt]))).toEqual(
      new Map([
        [ids[0], dayAt(1)],
        [ids[1], dayAt(2)],
      ]),
    );
    expect(report.pruned.map((p) => p.generationId).sort()).toEqual([ids[0], ids[1]].sort());
  });

  it('places a failed generation too, so it leaves the open-work index and is pruned in its turn', async () => {
    const world = withInstance({ days: 1 });
    world.clock.set(dayAt(0));
    const run = await world.run({ scheduledAt: dayAt(0) });
    const id = run.results[0]?.generationId ?? '';
    for (const snapshotId of run.results[0]?.snapshotIds ?? [])
      world.ec2.setSnapshotState(snapshotId, 'error');
    world.clock.advance(10 * MINUTE);
    const report = await world.reconcile();
    expect(report.failed.map((f) => f.generationId)).toEqual([id]);
    expect(report.expiries).toEqual([{ generationId: id, expiresAt: plusDays(dayAt(0), 1) }]);
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('never moves an expiry once set, even under a changed keep rule', async () => {
    const world = withInstance({ count: 1, days: 10 });
    const day0 = await runDay(world, 0);
    await runDay(world, 1);
    const first = (await world.catalog.get(day0.id))?.expiresAt;
    expect(first).toBe(plusDays(day0.takenAt, 10));

    // New generations arrive and are placed under other keep rules; each would give day 0 another end.
    for (const [day, keep] of [
      [2, { count: 1, days: 1 }],
      [3, { days: 30 }],
      [4, { count: 5 }],
    ] as const) {
      const config = aConfig({
        policies: [aPolicy({ schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep }] })],
      });
      const { id } = await runDay(world, day, config);
      expect((await world.catalog.get(id))?.retentionAppliedAt).toBeDefined();
      expect((await world.catalog.get(day0.id))?.expiresAt).toBe(first);
    }
    await runDay(world, 5);
    expect((await world.catalog.get(day0.id))?.expiresAt).toBe(first);
  });

  it('gives a generation whose schedule left the config no expiry, and takes it out of the open work', async () => {
    const world = withInstance({ count: 1 });
    world.clock.set(dayAt(0));
    const id = (await world.run({ scheduledAt: dayAt(0) })).results[0]?.generationId ?? '';
    world.ec2.completeAll();
    const other = aConfig({ policies: [aPolicy({ name: 'weekly' })] });
    const report = await reconcileUnder(world, other);
    expect(report.completed).toEqual([id]);
    expect(report.expiries).toEqual([]);
    const generation = await world.catalog.get(id);
    expect(generation?.expiresAt).toBeUndefined();
    expect(generation?.retentionAppliedAt).toBeDefined();
    expect(await world.catalog.openGenerations()).toEqual([]);
  });
});

describe('reconcile: generations that do not finish', () => {
  it('reports a generation still pending after stuckAfterMinutes as stuck', async () => {
    const world = withInstance({ count: 2 }, { reconcile: { stuckAfterMinutes: 60 } });
    world.clock.set(dayAt(0));
    const id = (await world.run({ scheduledAt: dayAt(0) })).results[0]?.generationId ?? '';

    world.clock.advance(59 * MINUTE + 59_000);
    const early = await world.reconcile();
    expect(early.stillPending).toEqual([id]);
    expect(early.stuck).toEqual([]);

    world.clock.advance(1_000);
    const late = await world.reconcile();
    expect(late.stillPending).toEqual([id]);
    expect(late.stuck).toEqual([{ generationId: id, pendingMinutes: 60 }]);
    expect(world.log.messages('warn')).toContain('generation stuck');
    expect((await world.catalog.get(id))?.state).toBe('pending');

    world.ec2.completeAll();
    const done = await world.reconcile();
    expect(done.completed).toEqual([id]);
    expect(done.stuck).toEqual([]);
  });

  it('uses the default of 360 minutes when the config says nothing', async () => {
    const world = withInstance({ count: 2 });
    world.clock.set(dayAt(0));
    const id = (await world.run({ scheduledAt: dayAt(0) })).results[0]?.generationId ?? '';
    world.clock.advance(359 * MINUTE);
    expect((await world.reconcile()).stuck).toEqual([]);
    world.clock.advance(MINUTE);
    expect((await world.reconcile()).stuck).toEqual([{ generationId: id, pendingMinutes: 360 }]);
  });

  it('fails a claim that recorded no snapshots once the 15-minute lease has run out, with a reason', async () => {
    const world = withInstance({ count: 2 });
    world.clock.set(dayAt(0));
    // The delivery claimed the generation, then died before its create call.
    world.catalog.faults.failNext('claim', { afterEffect: true, error: new Error('Lambda died') });
    world.catalog.faults.failNext('recordFailure', { error: new Error('Lambda died') });
    expect((await world.run({ scheduledAt: dayAt(0) })).results[0]?.outcome).toBe('failed');
    const id = generationId('daily', 'daily', dayAt(0), { kind: 'instance', id: world.web.instanceId });

    world.clock.advance(CLAIM_LEASE_MS - 1_000);
    const early = await world.reconcile();
    expect(early.stillPending).toEqual([id]);
    expect(early.failed).toEqual([]);
    expect((await world.catalog.get(id))?.state).toBe('pending');

    world.clock.advance(1_000);
    const late = await world.reconcile();
    expect(late.failed).toEqual([
      { generationId: id, failure: expect.stringContaining('before creating snapshots') },
    ]);
    const generation = await world.catalog.get(id);
    expect(generation).toMatchObject({
      state: 'failed',
      consistency: 'failed',
      failure: expect.stringContaining('before creating snapshots'),
    });
    expect(generation?.retentionAppliedAt).toBeDefined();
    expect(await world.catalog.openGenerations()).toEqual([]);
    expect(world.ec2.createCalls).toEqual([]);
  });

  it('adopts the snapshots of a run that died before recording them, once the lease has run out', async () => {
    const world = withInstance({ count: 2 });
    world.clock.set(dayAt(0));
    // The create call made the snapshots; the delivery died before writing them to the catalog.
    world.catalog.faults.failNext('recordOutcome', { error: new Error('Lambda died') });
    await world.run({ scheduledAt: dayAt(0) });
    const id = generationId('daily', 'daily', dayAt(0), { kind: 'instance', id: world.web.instanceId });
    expect((await world.catalog.get(id))?.snapshots).toEqual([]);
    const made = world.ec2.allSnapshots().map((s) => s.snapshotId);

    world.clock.advance(CLAIM_LEASE_MS);
    world.ec2.completeAll();
    const report = await world.reconcile();

    expect(report.failed).toEqual([]);
    expect(report.completed).toEqual([id]);
    const generation = await world.catalog.get(id);
    expect(generation?.snapshots.map((s) => s.snapshotId).sort()).toEqual([...made].sort());
    expect(world.ec2.createCalls).toHaveLength(1);
  });
});

describe('reconcile adopting an AMI generation whose run died', () => {
  it('puts the AMI id only on the snapshots behind the AMI, not on the data snapshots taken with it', async () => {
    const world = aWorld({ now: dayAt(1) });
    const images = new FakeImages(world.ec2);
    const amiId = 'ami-0000000000000dead';
    const boot = anId('snap');
    const data = anId('snap');
    // Adoption takes only snapshots of the target's own volumes, so the instance is in the fleet.
    const web = anInstance({ volumes: 2 });
    world.ec2.add(web);
    const claimed = aGenerationOn(1, { amiId, target: { kind: 'instance', id: web.instanceId } });
    const pending = {
      ...claimed,
      state: 'pending' as const,
      snapshots: [],
      claimedAt: dayAt(1),
      retentionAppliedAt: undefined,
    };
    await world.catalog.claim(pending);
    // Marked as the run's CreateImage and CreateSnapshots marked them.
    for (const [snapshotId, volumeId, kind] of [
      [boot, web.bootVolumeId, 'image'],
      [data, web.dataVolumeIds[0] ?? '', 'instance'],
    ] as const) {
      const mark = markOf(TEST_MARK_SECRET, { kind, generationId: pending.id, instanceId: web.instanceId });
      world.ec2.snapshots.set(snapshotId, {
        snapshotId,
        volumeId,
        state: 'completed',
        tags: { [TAG.managed]: 'true', [TAG.generation]: pending.id, [TAG.mark]: mark },
        description: 'made by the run that died',
        startedAt: dayAt(1),
      });
    }
    images.images.set(amiId, {
      imageId: amiId,
      name: pending.id,
      instanceId: web.instanceId,
      tags: {},
      snapshots: [{ deviceName: '/dev/xvda', snapshotId: boot, state: 'completed' }],
    });
    world.clock.set(plusDays(dayAt(1), 1));

    await reconcileUnder(world, world.config, { images });

    const adopted = await world.catalog.get(pending.id);
    expect(adopted?.snapshots.map((s) => [s.snapshotId, s.amiId, s.deviceName]).sort()).toEqual(
      [
        [boot, amiId, '/dev/xvda'],
        // The instance is known now, so the data snapshot keeps its device too.
        [data, undefined, '/dev/sdf'],
      ].sort(),
    );
  });
});
