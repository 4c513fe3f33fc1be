import { describe, expect, it } from 'vitest';
import { type ReconcileDryRun, reconcileDryRun } from '#core/lifecycle/dry-run.ts';
import { DryRunCatalog, type WouldWrite } from '#core/lifecycle/dry-run-catalog.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { FakeCatalog } from '../../support/fake-catalog.ts';
import { aConfig, aGeneration, aPolicy, aVolume, aWorld, policyTag } from '../../support/fakes.ts';
import { reconcileDepsOf } from '../../support/lifecycle-builders.ts';

// `reconcile --dry-run` on fakes: the pass runs on recorders, so it changes nothing, and its report is the report
// of the real pass that follows.

const config = aConfig({
  policies: [
    aPolicy({
      targets: 'volumes',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 1 } }],
    }),
  ],
});
const night = (n: number) => `2026-11-${String(20 + n).padStart(2, '0')}T03:00:00.000Z`;

/** Two nights of one volume under keep 1: the second pending, an extra snapshot of it, and the first due. */
async function aWorldToReconcile() {
  const world = aWorld({ config, now: night(1) });
  const volume = aVolume({ tags: policyTag('daily') });
  world.ec2.add(volume);
  await world.run({ scheduledAt: night(1) });
  world.ec2.completeAll();
  await world.reconcile();
  world.clock.set(night(2));
  const [second] = (await world.run({ scheduledAt: night(2) })).results;
  const tags = world.ec2.snapshots.get(second?.snapshotIds[0] ?? '')?.tags ?? {};
  const extra = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags });
  world.ec2.completeAll();
  world.clock.set('2026-11-22T04:00:00.000Z');
  const deps = reconcileDepsOf(world);
  return { ...world, deps, extra };
}

function asReport({ dryRun: _d, actions: _a, writes: _w, ...report }: ReconcileDryRun) {
  return report;
}

describe('a reconcile dry run', () => {
  it('changes nothing: no catalog write, no delete, no snapshot gone', async () => {
    const world = await aWorldToReconcile();
    const records = world.catalog.all();
    const snapshots = world.ec2.allSnapshots();

    const planned = await reconcileDryRun(world.deps);

    expect(planned.dryRun).toBe(true);
    expect(world.catalog.all()).toEqual(records);
    expect(world.ec2.allSnapshots()).toEqual(snapshots);
    expect(world.pruner.deletes).toEqual([]);
    expect(planned.writes.map((w) => w.call)).toEqual(
      expect.arrayContaining(['catalog: record outcome', 'DeleteSnapshot']),
    );
    expect(world.log.entries.every((e) => e.data?.dryRun === true)).toBe(false);
    expect(world.log.entries.filter((e) => e.data?.dryRun === true).length).toBeGreaterThan(0);
  });

  it('reports what the real pass after it does, each action with its reason', async () => {
    const world = await aWorldToReconcile();
    const planned = await reconcileDryRun(world.deps);

    const real = await reconcile(world.deps);

    expect(real).toEqual(asReport(planned));
    expect(planned.completed).toHaveLength(1);
    expect(planned.pruned).toHaveLength(1);
    expect(planned.orphans.deleted.map((o) => o.snapshotId)).toEqual([world.extra]);
    expect(world.pruner.deletes.sort()).toEqual(
      planned.writes
        .filter((w) => w.call === 'DeleteSnapshot')
        .map((w) => w.subject)
        .sort(),
    );
    expect(planned.actions.map((a) => a.action)).toEqual([
      'complete',
      'delete orphan',
      'set expiry',
      'prune',
    ]);
    expect(planned.actions.find((a) => a.action === 'prune')?.reason).toBe(
      `it expired at ${night(2)} and no interlock holds it`,
    );
  });

  it('after the real pass, finds nothing left to do', async () => {
    const world = await aWorldToReconcile();
    await reconcile(world.deps);
    const again = await reconcileDryRun(world.deps);
    expect(again.actions).toEqual([]);
    expect(again.writes).toEqual([]);
  });
});

describe('the dry run’s catalog', () => {
  it('answers reads with what the pass wrote, and leaves the real catalog as it was', async () => {
    const due = aGeneration({
      expiresAt: '2026-11-20T00:00:00.000Z',
      retentionAppliedAt: '2026-11-19T00:00:00.000Z',
    });
    const kept = aGeneration({ retentionAppliedAt: '2026-11-19T00:00:00.000Z' });
    const base = new FakeCatalog().seed(due, kept);
    const writes: WouldWrite[] = [];
    const catalog = new DryRunCatalog(base, (w) => writes.push(w));

    await catalog.update({ ...kept, expiresAt: '2026-11-21T00:00:00.000Z' }, ['expiresAt']);
    await catalog.update({ ...due, deletedAt: '2026-11-22T00:00:00.000Z' }, ['deletedAt']);

    expect((await catalog.expiring('2026-11-22T00:00:00.000Z')).map((g) => g.id)).toEqual([kept.id]);
    expect((await catalog.get(kept.id))?.expiresAt).toBe('2026-11-21T00:00:00.000Z');
    expect((await base.expiring('2026-11-22T00:00:00.000Z')).map((g) => g.id)).toEqual([due.id]);
    expect(base.all()).toEqual([due, kept]);
    expect(writes).toEqual([
      { call: 'catalog: update expiresAt', subject: kept.id },
      { call: 'catalog: update deletedAt', subject: due.id },
    ]);
    await expect(catalog.update({ ...due, notes: ['x'] }, ['notes'])).rejects.toThrow(/deleted/);
  });
});
