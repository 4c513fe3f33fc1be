import { describe, expect, it } from 'vitest';
import type { Generation } from '#core/model/generation.ts';
import { aConfig, anInstance, aPolicy, aWorld, policyTag } from '../../support/fakes.ts';
import { aGenerationOn, dayAt, plusDays, reconcileUnder, store } from '../../support/lifecycle-builders.ts';

// A generation record whose time lies a year ahead (a forged record, a wrong clock, a `run --at` that got in)
// must never push real generations out of retention, nor stand in for the newest one of its target.

const MINUTE = 60_000;

function aDailyWorld(count: number) {
  const config = aConfig({
    policies: [aPolicy({ schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count } }] })],
  });
  const world = aWorld({ config, now: dayAt(0) });
  const web = anInstance({ volumes: 1, tags: policyTag('daily') });
  world.ec2.add(web);
  return { ...world, web };
}

type DailyWorld = ReturnType<typeof aDailyWorld>;

/** The real runs of days `from`..`to`, each followed by a reconcile pass; the ids of their generations. */
async function runDays(world: DailyWorld, from: number, to: number): Promise<string[]> {
  const ids: string[] = [];
  for (let day = from; day <= to; day++) {
    world.clock.set(dayAt(day));
    ids.push((await world.run({ scheduledAt: dayAt(day) })).results[0]?.generationId ?? '');
    world.clock.advance(10 * MINUTE);
    world.ec2.completeAll();
    await reconcileUnder(world, world.config);
  }
  return ids;
}

/** A completed generation of `web` recorded as scheduled a year after day 2, its snapshots taken on day 2. */
function aForgedGeneration(world: DailyWorld, fields: Partial<Generation> = {}): Generation {
  const forged = aGenerationOn(0, {
    target: { kind: 'instance', id: world.web.instanceId },
    scheduledAt: plusDays(dayAt(2), 365),
    takenAt: dayAt(2, '12:00:00.000'),
    retentionAppliedAt: undefined,
    ...fields,
  });
  store(world, [forged]);
  return forged;
}

/** What became of the real generations: whether each was deleted, and the expiry retention gave it. */
async function fates(world: DailyWorld, ids: string[]) {
  return Promise.all(
    ids.map(async (id) => {
      const g = await world.catalog.get(id);
      return { deleted: Boolean(g?.deletedAt), expiresAt: g?.expiresAt };
    }),
  );
}

describe('retention with a generation whose time lies after now', () => {
  it.each([
    ['not yet placed', {}],
    ['already placed by a forged record', { retentionAppliedAt: dayAt(2, '12:00:00.000') }],
  ])('keeps every real generation as if it were not there (%s)', async (_case, fields) => {
    const forgedWorld = aDailyWorld(1);
    const control = aDailyWorld(1);
    const real = await runDays(forgedWorld, 0, 2);
    const expected = await runDays(control, 0, 2);
    aForgedGeneration(forgedWorld, fields);

    real.push(...(await runDays(forgedWorld, 3, 5)));
    expected.push(...(await runDays(control, 3, 5)));

    // The same days kept, deleted and given the same expiries as in a world without the forged record.
    expect(await fates(forgedWorld, real)).toEqual(await fates(control, expected));
    const newest = await forgedWorld.catalog.get(real.at(-1) ?? '');
    expect(newest?.deletedAt).toBeUndefined();
    expect(newest?.expiresAt).toBeUndefined();
  });

  it('holds the generation out of retention, saying why, until its time has passed', async () => {
    const world = aDailyWorld(1);
    await runDays(world, 0, 2);
    const forged = aForgedGeneration(world);

    const report = await reconcileUnder(world, world.config);

    expect(report.held).toContainEqual({
      generationId: forged.id,
      reason: expect.stringContaining(`scheduled for ${forged.scheduledAt}, after now`),
    });
    const stored = await world.catalog.get(forged.id);
    expect(stored?.retentionAppliedAt).toBeUndefined();
    expect(stored?.heldBecause).toContain('after now');
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([forged.id]);

    // Once its time has come it is a generation like any other, placed and counted.
    world.clock.set(plusDays(forged.scheduledAt, 0.5));
    await reconcileUnder(world, world.config);
    const placed = await world.catalog.get(forged.id);
    expect(placed?.retentionAppliedAt).toBe(world.clock.now().toISOString());
    expect(placed?.heldBecause).toBeUndefined();
    expect(await world.catalog.openGenerations()).toEqual([]);
  });
});
