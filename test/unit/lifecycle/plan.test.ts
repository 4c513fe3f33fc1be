import { describe, expect, it } from 'vitest';
import type { InstanceInfo, VolumeInfo } from '#core/backup/ports.ts';
import type { Config } from '#core/config/config.ts';
import { plan, tagProblems } from '#core/lifecycle/plan.ts';
import { TAG } from '#core/model/tags.ts';
import { aConfig, anInstance, aPolicy, aVolume, aWorld, policyTag } from '../../support/fakes.ts';
import { aCopy, aGenerationOn, ec2Contents, store, type World } from '../../support/lifecycle-builders.ts';

const NOW = '2026-11-21T12:00:00.000Z'; // a Saturday
const EXPIRED = '2026-11-20T00:00:00.000Z';

/** `daily` over instances: a daily schedule kept 2 deep, a weekly AMI schedule copied to us-west-2. */
function planConfig(): Config {
  return aConfig({
    policies: [
      aPolicy({
        schedules: [
          { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 2 } },
          { name: 'weekly', expression: 'cron(0 4 ? * SUN *)', keep: { count: 4 }, ami: true },
        ],
        copies: [{ region: 'us-west-2', schedules: ['weekly'] }],
      }),
      aPolicy({
        name: 'vols',
        targets: 'volumes',
        schedules: [{ name: 'hourly', expression: 'rate(1 hour)', keep: { count: 24 } }],
      }),
    ],
  });
}

/**
 * A fleet: `web` with boot, data and an excluded scratch volume; a standalone volume for `vols`; and a catalog
 * with `web`'s daily lineage (one expired, one the next run pushes out, the newest), an expired weekly
 * generation whose DR copy is pending, and an expired newest generation of the standalone volume.
 */
function plannedWorld() {
  const world = aWorld({ config: planConfig(), now: NOW });
  const web = anInstance({
    volumes: 3,
    tags: policyTag('daily'),
    volumeTags: [{}, {}, { [TAG.exclude]: 'true' }],
  });
  const standalone = aVolume({ tags: policyTag('vols') });
  world.ec2.add(web, standalone);
  const target = { kind: 'instance' as const, id: web.instanceId };
  const expired = aGenerationOn(17, { target, volumeId: web.bootVolumeId, expiresAt: EXPIRED });
  const pushedOut = aGenerationOn(18, { target, volumeId: web.bootVolumeId });
  const newest = aGenerationOn(19, { target, volumeId: web.bootVolumeId });
  const weeklyTaken = aGenerationOn(14, {
    target,
    volumeId: web.bootVolumeId,
    schedule: 'weekly',
    expiresAt: EXPIRED,
  });
  const weekly = {
    ...weeklyTaken,
    copies: [aCopy(weeklyTaken, 'us-west-2', 'pending', ['snap-0000000000000copy'])],
  };
  const onlyOne = aGenerationOn(15, {
    volumeId: standalone.volumeId,
    policy: 'vols',
    schedule: 'hourly',
    expiresAt: EXPIRED,
  });
  store(world, [expired, pushedOut, newest, weekly, onlyOne]);
  return { ...world, web, standalone, expired, pushedOut, newest, weekly, onlyOne };
}

function planOf(world: World, options: { policy?: string; at?: string } = {}) {
  return plan(
    {
      config: world.config,
      inventory: world.ec2,
      catalog: world.catalog,
      pruner: world.pruner,
      clock: world.clock,
    },
    options,
  );
}

describe('plan', () => {
  it('lists per policy schedule the targets and volumes the next run would snapshot', async () => {
    const world = plannedWorld();
    const result = await planOf(world);
    const [boot, data, scratch] = world.web.volumeIds;
    expect(result.at).toBe(NOW);
    expect(result.snapshot).toEqual([
      {
        policy: 'daily',
        schedule: 'daily',
        nextRunAt: '2026-11-22T03:00:00.000Z',
        target: { kind: 'instance', id: world.web.instanceId },
        volumes: [boot, data],
        excluded: [{ volumeId: scratch, reason: 'exclude-tag' }],
        ami: false,
      },
      {
        policy: 'daily',
        schedule: 'weekly',
        nextRunAt: '2026-11-22T04:00:00.000Z',
        target: { kind: 'instance', id: world.web.instanceId },
        volumes: [boot, data],
        excluded: [{ volumeId: scratch, reason: 'exclude-tag' }],
        ami: true,
      },
      {
        policy: 'vols',
        schedule: 'hourly',
        target: { kind: 'volume', id: world.standalone.volumeId },
        volumes: [world.standalone.volumeId],
        excluded: [],
        ami: false,
      },
    ]);
  });

  it('lists the copies the next runs would make', async () => {
    const world = plannedWorld();
    expect((await planOf(world)).copy).toEqual([
      {
        policy: 'daily',
        schedule: 'weekly',
        target: { kind: 'instance', id: world.web.instanceId },
        region: 'us-west-2',
        nextRunAt: '2026-11-22T04:00:00.000Z',
      },
    ]);
  });

  it('lists what is due for pruning, expired or pushed out by the next run, and what is held with the reason', async () => {
    const world = plannedWorld();
    const result = await planOf(world);
    expect(result.prune.map((p) => [p.generationId, p.why]).sort()).toEqual(
      [
        [world.expired.id, 'expired'],
        [world.pushedOut.id, 'pushed out by the next run'],
      ].sort(),
    );
    expect(result.prune.find((p) => p.generationId === world.expired.id)).toEqual({
      generationId: world.expired.id,
      policy: 'daily',
      schedule: 'daily',
      target: { kind: 'instance', id: world.web.instanceId },
      takenAt: world.expired.takenAt,
      expiresAt: EXPIRED,
      snapshotIds: world.expired.snapshots.map((s) => s.snapshotId),
      why: 'expired',
    });
    expect(result.held).toEqual(
      expect.arrayContaining([
        { generationId: world.weekly.id, reason: expect.stringContaining('copy to us-west-2') },
        { generationId: world.onlyOne.id, reason: expect.stringContaining('newest completed generation') },
      ]),
    );
    expect(result.held).toHaveLength(2);
    const listed = [...result.prune.map((p) => p.generationId), ...result.held.map((h) => h.generationId)];
    expect(listed).not.toContain(world.newest.id);
  });

  it('lists DR copies due in their Region apart from the primary, and the newest copy held', async () => {
    const world = plannedWorld();
    const target = { kind: 'instance' as const, id: world.web.instanceId };
    const older = aGenerationOn(7, { target, volumeId: world.web.bootVolumeId, schedule: 'weekly' });
    const newer = aGenerationOn(8, { target, volumeId: world.web.bootVolumeId, schedule: 'weekly' });
    const primaryGone = {
      ...older,
      deletedAt: EXPIRED,
      copies: [aCopy(older, 'us-west-2', 'completed', ['snap-000000000000olddr'], { expiresAt: EXPIRED })],
    };
    const newestCopy = {
      ...newer,
      copies: [aCopy(newer, 'us-west-2', 'completed', ['snap-000000000000newdr'], { expiresAt: EXPIRED })],
    };
    store(world, [primaryGone, newestCopy]);
    const result = await planOf(world, { policy: 'daily' });
    expect(result.prune).toContainEqual(
      expect.objectContaining({
        generationId: older.id,
        region: 'us-west-2',
        snapshotIds: ['snap-000000000000olddr'],
      }),
    );
    // Its primary snapshots are deleted already: only the copy is listed.
    expect(result.prune.filter((p) => p.generationId === older.id)).toHaveLength(1);
    expect(result.held).toContainEqual({
      generationId: newer.id,
      region: 'us-west-2',
      reason: `it is the newest completed copy in us-west-2 of ${world.web.instanceId}`,
    });
  });

  it('dates a generation pushed out by the next run at that run', async () => {
    const world = plannedWorld();
    const entry = (await planOf(world)).prune.find((p) => p.generationId === world.pushedOut.id);
    // Count 2: the newest generation is the first after it, the next run (Nov 22, 03:00) the second.
    expect(entry?.expiresAt).toBe('2026-11-22T03:00:00.000Z');
  });

  it('changes nothing: no catalog write, no snapshot created or deleted', async () => {
    const world = plannedWorld();
    const catalogBefore = world.catalog.all();
    const ec2Before = ec2Contents(world);
    const result = await planOf(world);
    expect(result.prune.length).toBeGreaterThan(0);
    expect(result.held.length).toBeGreaterThan(0);
    expect(world.catalog.all()).toEqual(catalogBefore);
    expect(ec2Contents(world)).toEqual(ec2Before);
    expect(world.ec2.createCalls).toEqual([]);
    expect(world.pruner.deletes).toEqual([]);
    expect(world.catalog.audits).toEqual([]);
  });

  it('plans one policy when asked, at the time asked', async () => {
    const world = plannedWorld();
    const result = await planOf(world, { policy: 'vols', at: '2026-11-25T00:00:00.000Z' });
    expect(result.at).toBe('2026-11-25T00:00:00.000Z');
    expect(new Set(result.snapshot.map((s) => s.policy))).toEqual(new Set(['vols']));
    expect(result.copy).toEqual([]);
    expect(result.prune).toEqual([]);
    expect(result.held.map((h) => h.generationId)).toEqual([world.onlyOne.id]);
  });

  it('reports the volumes excluded from a tagged instance as problems', async () => {
    const world = plannedWorld();
    const scratch = world.web.volumeIds[2];
    const problems = (await planOf(world)).problems.filter((p) => p.resourceId === scratch);
    expect(problems).toEqual([
      { resourceId: scratch, problem: expect.stringContaining('snapkeeper:exclude=true') },
    ]);
  });

  it('reports tag problems of the inventory', async () => {
    const world = plannedWorld();
    const stray = aVolume({ tags: policyTag('nightly') });
    world.ec2.add(stray);
    const problems = (await planOf(world)).problems;
    expect(problems).toContainEqual({
      resourceId: stray.volumeId,
      problem: expect.stringContaining('"nightly"'),
    });
  });
});

describe('tagProblems', () => {
  const config = aConfig({
    policies: [
      aPolicy({ name: 'daily' }),
      aPolicy({ name: 'vols-a', targets: 'volumes' }),
      aPolicy({ name: 'vols-b', targets: 'volumes' }),
    ],
  });

  function problemsOf(tagged: { instances?: InstanceInfo[]; volumes?: VolumeInfo[] }) {
    return tagProblems(config, { instances: tagged.instances ?? [], volumes: tagged.volumes ?? [] });
  }

  it('finds nothing to say about correct tagging', () => {
    const web = anInstance({ tags: policyTag('daily') });
    const volume = aVolume({ tags: policyTag('vols-a') });
    expect(problemsOf({ instances: [web.instance], volumes: [volume] })).toEqual([]);
  });

  it('reports a snapkeeper:policy that names no policy, listing the policies there are', () => {
    const web = anInstance({ tags: policyTag('daily', 'dialy') });
    expect(problemsOf({ instances: [web.instance] })).toEqual([
      {
        resourceId: web.instanceId,
        problem: expect.stringMatching(/"dialy", which is no policy.*daily, vols-a, vols-b/),
      },
    ]);
  });

  it('reports a volume tagged for two volume policies', () => {
    const volume = aVolume({ tags: policyTag('vols-a', 'vols-b') });
    expect(problemsOf({ volumes: [volume] })).toEqual([
      { resourceId: volume.volumeId, problem: expect.stringMatching(/vols-a.*vols-b/) },
    ]);
  });

  it('reports a volume tagged for an instances policy', () => {
    const volume = aVolume({ tags: policyTag('daily') });
    expect(problemsOf({ volumes: [volume] })).toEqual([
      { resourceId: volume.volumeId, problem: expect.stringContaining('tag its instance instead') },
    ]);
  });

  it('reports an instance tagged for a volumes policy', () => {
    const web = anInstance({ tags: policyTag('vols-a') });
    expect(problemsOf({ instances: [web.instance] })).toEqual([
      { resourceId: web.instanceId, problem: expect.stringContaining('tag its volumes instead') },
    ]);
  });

  it('reports a volume also covered through its tagged instance', () => {
    const web = anInstance({ volumes: 2, tags: policyTag('daily'), volumeTags: [{}, policyTag('vols-a')] });
    const [, data] = web.volumes;
    expect(problemsOf({ instances: [web.instance], volumes: data ? [data] : [] })).toEqual([
      {
        resourceId: data?.volumeId,
        problem: expect.stringContaining(`through its instance ${web.instanceId}`),
      },
    ]);
  });

  it('does not report a volume as covered twice once it is excluded from its instance, as the advice says', () => {
    const web = anInstance({
      volumes: 2,
      tags: policyTag('daily'),
      volumeTags: [{}, { ...policyTag('vols-a'), [TAG.exclude]: 'true' }],
    });
    const [, data] = web.volumes;
    expect(problemsOf({ instances: [web.instance], volumes: data ? [data] : [] })).toEqual([]);
  });
});
