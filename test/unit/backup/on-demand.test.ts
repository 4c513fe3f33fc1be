import { describe, expect, it } from 'vitest';
import { onDemandGenerationId } from '#core/backup/on-demand.ts';
import { ConfigError, InputError, TargetNotSelectedError } from '#core/model/errors.ts';
import { DAY_MS } from '#core/model/time.ts';
import { aConfig, anInstance, aPolicy, aWorld, policyTag } from '../../support/fakes.ts';
import { dayAt, plusDays, reconcileUnder } from '../../support/lifecycle-builders.ts';

// On-demand backups (`snapkeeper backup`, the backup Lambda) are a lineage of their own, kept by days only: any
// number of them must never push a scheduled generation out of its schedule's `keep` (the original attack was a
// burst of extra runs filling a count rule).

const MINUTE = 60_000;

function aWorldOf(options: { count?: number; onDemandDays?: number } = {}) {
  const config = aConfig({
    policies: [
      aPolicy({
        schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: options.count ?? 3 } }],
        ...(options.onDemandDays ? { onDemand: { keep: { days: options.onDemandDays } } } : {}),
      }),
    ],
  });
  const world = aWorld({ config, now: dayAt(0) });
  const web = anInstance({ volumes: 1, tags: policyTag('daily') });
  world.ec2.add(web);
  return { ...world, web };
}

type World = ReturnType<typeof aWorldOf>;

/** The scheduled run of `day`, completed and reconciled; its generation id. */
async function scheduledDay(world: World, day: number): Promise<string> {
  world.clock.set(dayAt(day));
  const id = (await world.run({ scheduledAt: dayAt(day) })).results[0]?.generationId ?? '';
  await settle(world);
  return id;
}

async function settle(world: World) {
  world.clock.advance(10 * MINUTE);
  world.ec2.completeAll();
  await reconcileUnder(world, world.config);
}

describe('on-demand backups and a schedule’s keep', () => {
  it('never prune a scheduled generation, however many are taken under a keep count of 3', async () => {
    const world = aWorldOf({ count: 3 });
    const scheduled = [
      await scheduledDay(world, 0),
      await scheduledDay(world, 1),
      await scheduledDay(world, 2),
    ];
    for (const requestId of ['burst-1', 'burst-2', 'burst-3']) {
      world.clock.advance(MINUTE);
      await world.backup({ requestId });
    }
    await settle(world);
    world.clock.advance(DAY_MS / 2);
    await reconcileUnder(world, world.config);

    for (const id of scheduled) {
      const generation = await world.catalog.get(id);
      expect(generation?.deletedAt, id).toBeUndefined();
      expect(generation?.expiresAt, id).toBeUndefined();
    }
    const onDemand = world.catalog.all().filter((g) => g.schedule === 'on-demand');
    expect(onDemand).toHaveLength(3);
    expect(onDemand.every((g) => g.state === 'completed' && !g.deletedAt)).toBe(true);
  });

  it('are placed by the policy’s onDemand days from the clock’s time, and deleted after them', async () => {
    const world = aWorldOf({ onDemandDays: 2 });
    world.clock.set(dayAt(0, '12:00:00.000'));
    const backup = await world.backup();
    const id = backup.results[0]?.generationId ?? '';
    await settle(world);
    expect((await world.catalog.get(id))?.expiresAt).toBe(plusDays(dayAt(0, '12:00:00.000'), 2));

    await scheduledDay(world, 1);
    expect((await world.catalog.get(id))?.deletedAt).toBeUndefined();
    await scheduledDay(world, 2);
    await scheduledDay(world, 3);
    expect((await world.catalog.get(id))?.deletedAt).toBeDefined();
  });

  it('default to 7 days when the policy says nothing', async () => {
    const world = aWorldOf();
    const id = (await world.backup()).results[0]?.generationId ?? '';
    await settle(world);
    expect((await world.catalog.get(id))?.expiresAt).toBe(plusDays(dayAt(0), 7));
  });
});

describe('backUpOnDemand: one request, one backup', () => {
  it('makes one generation when the same request id is delivered twice', async () => {
    const world = aWorldOf();
    const first = await world.backup({ requestId: 'req-42' });
    world.clock.advance(5 * MINUTE);
    const second = await world.backup({ requestId: 'req-42' });

    expect(first.results.map((r) => r.outcome)).toEqual(['created']);
    expect(second.results).toEqual([
      expect.objectContaining({ outcome: 'existing', generationId: first.results[0]?.generationId }),
    ]);
    expect(world.ec2.createCalls).toHaveLength(1);
    expect(world.catalog.all()).toHaveLength(1);
    expect(world.catalog.all()[0]?.scheduledAt).toBe(dayAt(0));
  });

  it('makes a new generation for a new request id', async () => {
    const world = aWorldOf();
    await world.backup({ requestId: 'a' });
    world.clock.advance(MINUTE);
    await world.backup({ requestId: 'b' });
    expect(world.catalog.all()).toHaveLength(2);
  });

  it('dates its generation by the clock and names it on-demand with an id from the request', async () => {
    const world = aWorldOf();
    const report = await world.backup({ requestId: 'req-7' });
    const [generation] = world.catalog.all();
    expect(generation).toMatchObject({ schedule: 'on-demand', scheduledAt: dayAt(0) });
    expect(report.results[0]?.generationId).toBe(
      onDemandGenerationId('daily', 'req-7', { kind: 'instance', id: world.web.instanceId }),
    );
    expect(report).toMatchObject({ requestId: 'req-7', schedule: 'on-demand' });
  });
});

describe('backUpOnDemand: which targets', () => {
  it('backs up only the target asked for', async () => {
    const world = aWorldOf();
    const other = anInstance({ volumes: 1, tags: policyTag('daily') });
    world.ec2.add(other);
    const report = await world.backup({ targetId: other.instanceId });
    expect(report.results.map((r) => r.targetId)).toEqual([other.instanceId]);
  });

  it('refuses an unknown policy, naming the valid ones', async () => {
    const world = aWorldOf();
    const refused = world.backup({ policy: 'hourly' });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/no policy named "hourly"; valid policies: daily/);
  });

  it('refuses a target that does not exist, naming the ones the policy backs up', async () => {
    const world = aWorldOf();
    const refused = world.backup({ targetId: 'i-0000000000nothere' });
    await expect(refused).rejects.toBeInstanceOf(TargetNotSelectedError);
    await expect(refused).rejects.toThrow(
      `no instance "i-0000000000nothere" found in the Region; policy "daily" backs up instances: pass one it backs up (${world.web.instanceId}), or omit --target`,
    );
    expect(world.catalog.all()).toEqual([]);
  });

  it('refuses a target not tagged for the policy, naming the tag to add', async () => {
    const world = aWorldOf();
    const stranger = anInstance({ volumes: 1, tags: policyTag('weekly') });
    world.ec2.add(stranger);
    const refused = world.backup({ targetId: stranger.instanceId });
    await expect(refused).rejects.toBeInstanceOf(InputError);
    await expect(refused).rejects.toThrow(
      `instance "${stranger.instanceId}" is not tagged for policy "daily" (snapkeeper:policy=weekly): add "daily" to its snapkeeper:policy tag`,
    );
    expect(world.ec2.createCalls).toEqual([]);
  });

  it('refuses a tagged target that cannot be snapshotted now, saying why', async () => {
    const world = aWorldOf();
    const stopped = anInstance({ volumes: 1, tags: policyTag('daily'), state: 'terminated' });
    world.ec2.add(stopped);
    await expect(world.backup({ targetId: stopped.instanceId })).rejects.toThrow(
      `${stopped.instanceId} is tagged for policy "daily" but cannot be backed up now: instance is terminated; not snapshotted`,
    );
  });
});
