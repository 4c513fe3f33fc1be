import { describe, expect, it } from 'vitest';
import { generationId } from '#core/model/generation.ts';
import { anInstance, aWorld, policyTag, SCHEDULED_AT } from '../../support/fakes.ts';

/** A world where one run has recorded a pending generation of an instance with `volumes` volumes. */
async function afterOneRun(volumes = 2) {
  const world = aWorld();
  const web = anInstance({ volumes, tags: policyTag('daily') });
  world.ec2.add(web);
  const report = await world.run();
  const id = report.results[0]?.generationId ?? '';
  const snapshotIds = report.results[0]?.snapshotIds ?? [];
  expect(await world.catalog.get(id)).toMatchObject({ state: 'pending' });
  return { ...world, web, id, snapshotIds };
}

describe('reconcile', () => {
  it('completes a pending generation when all its snapshots have completed', async () => {
    const world = await afterOneRun(2);
    world.ec2.completeAll();
    const report = await world.reconcile();
    expect(report).toMatchObject({
      examined: 1,
      completed: [world.id],
      failed: [],
      stillPending: [],
      stuck: [],
    });
    const generation = await world.catalog.get(world.id);
    expect(generation?.state).toBe('completed');
    expect(generation?.snapshots.map((s) => s.state)).toEqual(['completed', 'completed']);
    // Retention placed it in the same pass, so nothing is left open.
    expect(generation?.retentionAppliedAt).toBeDefined();
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('keeps a generation pending while any of its snapshots is pending, recording the ones that completed', async () => {
    const world = await afterOneRun(2);
    world.ec2.setSnapshotState(world.snapshotIds[0] ?? '', 'completed');
    const report = await world.reconcile();
    expect(report.stillPending).toEqual([world.id]);
    expect(report.completed).toEqual([]);
    const generation = await world.catalog.get(world.id);
    expect(generation?.state).toBe('pending');
    expect(generation?.snapshots.map((s) => s.state)).toEqual(['completed', 'pending']);

    world.ec2.completeAll();
    expect((await world.reconcile()).completed).toEqual([world.id]);
  });

  it('fails a generation whose snapshot was deleted from EC2 by hand, naming the snapshot', async () => {
    const world = await afterOneRun(2);
    const [kept, deleted] = world.snapshotIds;
    world.ec2.setSnapshotState(kept ?? '', 'completed');
    world.ec2.deleteSnapshot(deleted ?? '');
    const report = await world.reconcile();
    expect(report.failed).toEqual([
      { generationId: world.id, failure: expect.stringContaining(deleted ?? '') },
    ]);
    expect(report.failed[0]?.failure).not.toContain(kept);
    const generation = await world.catalog.get(world.id);
    expect(generation).toMatchObject({ state: 'failed', failure: expect.stringContaining(deleted ?? '') });
    expect(generation?.snapshots.map((s) => s.state)).toEqual(['completed', 'error']);
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('fails a generation whose snapshot EC2 reports in error', async () => {
    const world = await afterOneRun(1);
    world.ec2.setSnapshotState(world.snapshotIds[0] ?? '', 'error');
    const report = await world.reconcile();
    expect(report.failed.map((f) => f.generationId)).toEqual([world.id]);
    expect(await world.catalog.get(world.id)).toMatchObject({ state: 'failed' });
  });

  it('leaves alone a generation that is claimed but not recorded yet', async () => {
    const world = aWorld();
    const web = anInstance({ tags: policyTag('daily') });
    world.ec2.add(web);
    // A delivery claimed the generation and is still making its create call.
    world.catalog.faults.failNext('claim', { afterEffect: true, error: new Error('still running') });
    world.catalog.faults.failNext('recordFailure', { error: new Error('still running') });
    expect((await world.run()).results[0]?.outcome).toBe('failed');
    const id = generationId('daily', 'daily', SCHEDULED_AT, { kind: 'instance', id: web.instanceId });
    const before = await world.catalog.get(id);

    const report = await world.reconcile();

    expect(report).toMatchObject({ examined: 1, completed: [], failed: [], stillPending: [id], pruned: [] });
    expect(await world.catalog.get(id)).toEqual(before);
    expect(before).toMatchObject({ state: 'pending', snapshots: [] });
  });

  it('keeps going when recording one generation fails, reporting it still pending', async () => {
    const world = aWorld();
    world.ec2.add(anInstance({ tags: policyTag('daily') }), anInstance({ tags: policyTag('daily') }));
    const [first, second] = (await world.run()).results.map((r) => r.generationId);
    world.ec2.completeAll();
    world.catalog.faults.failNext('recordOutcome', { when: (g) => g.id === first });
    const report = await world.reconcile();
    expect(report.completed).toEqual([second]);
    expect(report.stillPending).toEqual([first]);
    expect(world.log.messages('error')).toContain('generation not advanced');
    expect((await world.reconcile()).completed).toEqual([first]);
  });
});
