import { describe, expect, it } from 'vitest';
import { policyRpos } from '#core/lifecycle/rpo.ts';
import type { Target } from '#core/model/generation.ts';
import { aConfig, aGeneration, anInstance, aPolicy, aWorld, policyTag } from '../../support/fakes.ts';

const NOW = '2026-11-22T09:00:00.000Z';
const HOUR = 3600;

/** A world at NOW with tagged instances of the `daily` policy. */
function fleet(count: number, config = aConfig()) {
  const world = aWorld({ config, now: NOW });
  const instances = Array.from({ length: count }, () => anInstance({ tags: policyTag('daily') }));
  world.ec2.add(...instances);
  const targets: Target[] = instances.map((i) => ({ kind: 'instance', id: i.instanceId }));
  return { world, targets, rpos: () => policyRpos({ ...world, inventory: world.ec2 }) };
}

describe("each policy's recovery point", () => {
  it('is the age of the oldest "newest completed generation" among its targets', async () => {
    const { world, targets, rpos } = fleet(2);
    const [fresh, stale] = targets;
    world.catalog.seed(
      aGeneration({ target: fresh, takenAt: '2026-11-22T03:00:05.000Z' }),
      aGeneration({ target: stale, takenAt: '2026-11-21T03:00:05.000Z' }),
      // Newer but failed: it protects nothing, so the stale target's figure stays the older one.
      aGeneration({ target: stale, takenAt: '2026-11-22T03:00:05.000Z', state: 'failed' }),
    );
    expect(await rpos()).toEqual([
      {
        policy: 'daily',
        targets: 2,
        rpoSeconds: 30 * HOUR - 5,
        worstTargetId: stale?.id,
        withoutGeneration: 0,
      },
    ]);
  });

  it('counts a target whose generations all failed from the oldest of them, and a deleted one as none', async () => {
    const { world, targets, rpos } = fleet(2);
    const [failing, pruned] = targets;
    world.catalog.seed(
      aGeneration({ target: failing, scheduledAt: '2026-11-20T03:00:00.000Z', state: 'failed' }),
      aGeneration({ target: failing, scheduledAt: '2026-11-21T03:00:00.000Z', state: 'failed' }),
      aGeneration({
        target: pruned,
        takenAt: '2026-11-22T03:00:05.000Z',
        deletedAt: '2026-11-22T04:00:00.000Z',
      }),
    );
    const [daily] = await rpos();
    expect(daily).toMatchObject({ rpoSeconds: 54 * HOUR, worstTargetId: failing?.id, withoutGeneration: 0 });
  });

  it('leaves out targets with no generation yet, and generations of other policies', async () => {
    const config = aConfig({ policies: [aPolicy(), aPolicy({ name: 'weekly' })] });
    const { world, targets, rpos } = fleet(1, config);
    world.catalog.seed(
      aGeneration({ target: targets[0], policy: 'weekly', takenAt: '2026-11-22T03:00:05.000Z' }),
    );
    expect(await rpos()).toEqual([
      { policy: 'daily', targets: 1, withoutGeneration: 1 },
      { policy: 'weekly', targets: 0, withoutGeneration: 0 },
    ]);
  });

  it('is measured by every reconcile pass, after the pass has completed what it could', async () => {
    const world = aWorld({ now: '2026-11-21T03:00:00.000Z' });
    world.ec2.add(anInstance({ tags: policyTag('daily') }));
    await world.run();
    world.ec2.completeAll();
    world.clock.set('2026-11-21T05:00:00.000Z');
    const report = await world.reconcile();
    expect(report.completed).toHaveLength(1);
    expect(report.rpo).toEqual([
      expect.objectContaining({ policy: 'daily', targets: 1, withoutGeneration: 0 }),
    ]);
    // The generation's point in time is when its snapshots were taken, which the fake clock put at the run.
    expect(report.rpo[0]?.rpoSeconds).toBe(2 * HOUR);
  });

  it('logs a policy whose targets cannot be read and still measures the others', async () => {
    const config = aConfig({ policies: [aPolicy(), aPolicy({ name: 'weekly' })] });
    const { world, rpos } = fleet(1, config);
    const byTarget = world.catalog.byTarget.bind(world.catalog);
    let calls = 0;
    world.catalog.byTarget = (...args) => {
      if (calls++ === 0) return Promise.reject(new Error('catalog unreachable'));
      return byTarget(...args);
    };
    expect((await rpos()).map((r) => r.policy)).toEqual(['weekly']);
    expect(world.log.entries).toContainEqual(expect.objectContaining({ message: 'rpo not measured' }));
  });
});
