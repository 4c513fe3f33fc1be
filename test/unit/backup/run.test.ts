import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import { RETAKE_RESERVE_MS } from '#core/backup/held-claims.ts';
import { isFailedTarget } from '#core/backup/results.ts';
import { OutcomeSupersededError } from '#core/model/errors.ts';
import { generationId } from '#core/model/generation.ts';
import { markOf } from '#core/model/mark.ts';
import { TAG } from '#core/model/tags.ts';
import { fakeDeadline, fakeTimer } from '../../support/fake-agent.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';
import {
  aConfig,
  anInstance,
  aPolicy,
  aVolume,
  aWorld,
  type CreateCall,
  policyTag,
  SCHEDULED_AT,
} from '../../support/fakes.ts';

const MINUTE = 60_000;

/** A world with the `daily` instances policy and `count` instances tagged for it. */
function withInstances(count = 1, config = aConfig()) {
  const world = aWorld({ config });
  const fleet = Array.from({ length: count }, () => anInstance({ volumes: 2, tags: policyTag('daily') }));
  world.ec2.add(...fleet);
  return { ...world, fleet };
}

function idOf(instanceId: string, scheduledAt = SCHEDULED_AT) {
  return generationId('daily', 'daily', scheduledAt, { kind: 'instance', id: instanceId });
}

function instanceCall(call: CreateCall | undefined) {
  if (call?.operation !== 'CreateSnapshots')
    throw new Error(`expected a CreateSnapshots call, got ${call?.operation}`);
  return call.request;
}

describe('runSchedule: idempotency', () => {
  it('makes one generation per target per run', async () => {
    const { run, catalog, ec2, fleet } = withInstances(3);
    const report = await run();
    expect(report.results.map((r) => r.outcome)).toEqual(['created', 'created', 'created']);
    expect(
      catalog
        .all()
        .map((g) => g.target.id)
        .sort(),
    ).toEqual(fleet.map((i) => i.instanceId).sort());
    expect(ec2.createCalls).toHaveLength(3);
    expect(ec2.allSnapshots()).toHaveLength(6);
  });

  it('makes one generation when the same run is delivered twice', async () => {
    const { run, catalog, ec2, clock, fleet } = withInstances(1);
    const first = await run();
    clock.advance(2 * MINUTE);
    const second = await run();
    expect(second.results).toEqual([
      expect.objectContaining({
        outcome: 'existing',
        generationId: first.results[0]?.generationId,
        snapshotIds: first.results[0]?.snapshotIds,
      }),
    ]);
    expect(catalog.all()).toHaveLength(1);
    expect(ec2.createCalls).toHaveLength(1);
    expect(catalog.all()[0]?.id).toBe(idOf(fleet[0]?.instanceId ?? ''));
  });

  it('makes a new generation for another scheduledAt of the same schedule', async () => {
    const { run, catalog } = withInstances(1);
    await run();
    await run({ scheduledAt: '2026-11-22T03:00:00.000Z' });
    expect(catalog.all()).toHaveLength(2);
  });

  it('creates snapshots once when two deliveries of the same run race', async () => {
    const { run, catalog, ec2, clock } = withInstances(2);
    // Each delivery waits for the claims the other holds, and finds them recorded.
    const deps = { timer: fakeTimer(clock), deadline: fakeDeadline(clock, 15 * MINUTE) };
    const [a, b] = await Promise.all([run({}, deps), run({}, deps)]);
    expect(ec2.createCalls).toHaveLength(2);
    expect(ec2.allSnapshots()).toHaveLength(4);
    expect(catalog.all()).toHaveLength(2);
    const outcomes = [...(a?.results ?? []), ...(b?.results ?? [])].map((r) => r.outcome);
    expect(outcomes.sort()).toEqual(['created', 'created', 'existing', 'existing']);
  });

  it('lists a generation once by volume when a racing delivery meets it before the creator recorded it', async () => {
    const world = withInstances(1);
    const volumeId = world.fleet[0]?.dataVolumeIds[0] ?? '';
    world.catalog.faults.onCall('claim', () => world.clock.advance(1_000)); // claim, then create a second later
    let raced = false;
    world.catalog.faults.onCall('recordOutcome', async () => {
      if (raced) return;
      raced = true;
      // The duplicate delivery runs between the first one's create call and its record: the claim is live, so it
      // leaves the snapshots to their creator rather than adopting them (and, unable to wait, reports it missed).
      expect((await world.run()).results[0]?.outcome).toBe('missed');
    });
    expect((await world.run()).results[0]?.outcome).toBe('created');
    expect(world.ec2.createCalls).toHaveLength(1);
    const listed = await world.catalog.byVolume(volumeId);
    expect(listed.map((g) => g.id)).toEqual([idOf(world.fleet[0]?.instanceId ?? '')]);
  });

  it('adopts the snapshots of an earlier delivery that crashed before recording them', async () => {
    const { run, catalog, ec2, clock, fleet } = withInstances(1);
    catalog.faults.failNext('recordOutcome', { error: new Error('Lambda timed out') });
    const first = await run();
    expect(first.results[0]?.outcome).toBe('failed');
    const created = ec2.allSnapshots().map((s) => s.snapshotId);

    // The claim stays live until its lease ends: only then is its holder known to be gone.
    clock.advance(CLAIM_LEASE_MS + MINUTE);
    const second = await run();

    expect(second.results[0]).toMatchObject({ outcome: 'adopted', state: 'pending' });
    expect(second.results[0]?.snapshotIds.sort()).toEqual(created.sort());
    expect(ec2.createCalls).toHaveLength(1);
    const generation = await catalog.get(idOf(fleet[0]?.instanceId ?? ''));
    expect(generation?.snapshots.map((s) => s.snapshotId).sort()).toEqual(created.sort());
    expect(generation?.snapshots.map((s) => s.deviceName)).toEqual(['/dev/xvda', '/dev/sdf']);
    expect(await catalog.byVolume(fleet[0]?.dataVolumeIds[0] ?? '')).toHaveLength(1);
  });

  it('does not take the snapshots again when recording them failed after the create call', async () => {
    const { run, catalog, ec2, clock, fleet } = withInstances(1);
    catalog.faults.failNext('recordOutcome', {
      error: new Error('ProvisionedThroughputExceededException'),
    });
    const first = await run();
    expect(first.results[0]?.failure).toMatch(/were created but not recorded.*ProvisionedThroughputExceeded/);
    // Nothing else is written: the claim stays pending and holds no snapshots, so the next delivery adopts.
    expect(await catalog.get(idOf(fleet[0]?.instanceId ?? ''))).toMatchObject({
      state: 'pending',
      snapshots: [],
    });

    clock.advance(CLAIM_LEASE_MS + MINUTE);
    const second = await run();
    expect(second.results[0]?.outcome).toBe('adopted');
    expect(ec2.createCalls).toHaveLength(1);
  });

  it('adopts snapshots that EC2 made although the create call reported an error', async () => {
    const { run, catalog, ec2, fleet } = withInstances(1);
    ec2.faults.failNext('snapshotInstance', { afterEffect: true, error: new Error('socket hang up') });
    const first = await run();
    expect(first.results[0]).toMatchObject({ outcome: 'failed', failure: 'socket hang up' });

    const second = await run();
    expect(second.results[0]).toMatchObject({ outcome: 'adopted', state: 'pending' });
    expect(second.results[0]?.failure).toBeUndefined();
    expect(ec2.createCalls).toHaveLength(1);
    const generation = await catalog.get(idOf(fleet[0]?.instanceId ?? ''));
    // The generation holds good crash-consistent snapshots now: nothing of the earlier failure may remain.
    expect(generation).toMatchObject({ state: 'pending', consistency: 'crash' });
    expect(generation?.failure).toBeUndefined();
  });
});

describe('runSchedule: a claim the catalog refuses', () => {
  it('reports every target, the one whose claim failed among them, and still backs up the rest', async () => {
    const { run, catalog, ec2, fleet } = withInstances(3);
    const refused = fleet[0]?.instanceId ?? '';
    catalog.faults.failNext('claim', {
      error: new Error('ProvisionedThroughputExceededException'),
      when: (g) => g.target.id === refused,
    });
    const report = await run();
    expect(report.results.map((r) => [r.targetId, r.outcome])).toEqual(
      fleet.map((i) => [i.instanceId, i.instanceId === refused ? 'failed' : 'created']),
    );
    expect(report.results.find((r) => r.targetId === refused)?.failure).toMatch(
      /could not be claimed in the catalog: ProvisionedThroughputExceeded/,
    );
    expect(ec2.createCalls).toHaveLength(2);
  });

  it('records the failure of a claim written but unanswered, so the next delivery takes the target', async () => {
    const { run, catalog, ec2, fleet } = withInstances(1);
    catalog.faults.failNext('claim', { afterEffect: true, error: new Error('socket hang up') });
    expect((await run()).results[0]).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(await catalog.get(idOf(fleet[0]?.instanceId ?? ''))).toMatchObject({ state: 'failed' });
    expect((await run()).results[0]?.outcome).toBe('created');
    expect(ec2.createCalls).toHaveLength(1);
  });

  it('never marks failed a generation another delivery recorded', async () => {
    const { run, catalog, fleet } = withInstances(1);
    await run();
    const id = idOf(fleet[0]?.instanceId ?? '');
    // The claim loses to the existing record, and reading that record fails.
    catalog.faults.failNext('claim', { error: new Error('claim generation: network error') });
    expect((await run()).results[0]?.outcome).toBe('failed');
    expect((await catalog.get(id))?.state).not.toBe('failed');
  });
});

describe('runSchedule: a duplicate delivery during a group run', () => {
  function aGroup() {
    const world = aWorld();
    const tags = { ...policyTag('daily'), [TAG.group]: 'db' };
    const members = [anInstance({ volumes: 2, tags }), anInstance({ volumes: 2, tags })];
    world.ec2.add(...members);
    return { ...world, members };
  }

  it('leaves the live claim alone: the first delivery records all four snapshots', async () => {
    const world = aGroup();
    let duplicate: Awaited<ReturnType<typeof world.run>> | undefined;
    // The duplicate runs once the first member is snapshotted and the second is not yet.
    world.ec2.faults.onCall('snapshotInstance', async (request) => {
      if (duplicate || request.instanceId !== world.members[1]?.instanceId) return;
      duplicate = await world.run();
    });
    const first = await world.run();
    expect(duplicate?.results[0]?.outcome).toBe('missed');
    expect(first.results[0]).toMatchObject({ outcome: 'created' });
    const [generation] = world.catalog.all();
    expect(generation?.snapshots).toHaveLength(4);
    expect(world.ec2.allSnapshots()).toHaveLength(4);
  });

  it('never lets a late outcome holding part of the set replace the completed record', async () => {
    const world = aGroup();
    world.ec2.startState = 'completed';
    await world.run();
    const [complete] = world.catalog.all();
    expect(complete?.state).toBe('completed');
    if (!complete) throw new Error('no generation');
    // A writer that read the claim before the run recorded it, holding two of the four snapshots.
    const late = { ...complete, revision: 0, snapshots: complete.snapshots.slice(0, 2) };
    await expect(world.catalog.recordOutcome(late)).rejects.toBeInstanceOf(OutcomeSupersededError);
    expect((await world.catalog.get(complete.id))?.snapshots).toHaveLength(4);
  });
});

describe('runSchedule: claims and leases', () => {
  /** A delivery that claimed the generation and then died, before any create call. */
  async function crashedAfterClaim(world: ReturnType<typeof withInstances>) {
    // The Lambda is gone: its claim's answer never arrives, and it writes nothing more.
    world.catalog.faults.failNext('claim', { afterEffect: true, error: new Error('Lambda died') });
    world.catalog.faults.failNext('recordFailure', { error: new Error('Lambda died') });
    expect((await world.run()).results[0]).toMatchObject({
      outcome: 'failed',
      failure: expect.stringContaining('Lambda died'),
    });
    expect(world.ec2.createCalls).toHaveLength(0);
  }

  it('reports missed, never taking the claim, when another delivery holds it and the run cannot wait', async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    world.clock.advance(CLAIM_LEASE_MS - MINUTE);
    const report = await world.run();
    expect(report.results[0]).toMatchObject({ outcome: 'missed', state: 'pending', snapshotIds: [] });
    expect(world.ec2.createCalls).toHaveLength(0);
  });

  it("waits for a dead delivery's claim whose lease ends inside the deadline, then takes the target", async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    const claimedAt = world.catalog.all()[0]?.claimedAt ?? '';
    world.clock.advance(CLAIM_LEASE_MS - 3 * MINUTE);
    const report = await world.run(
      {},
      { timer: fakeTimer(world.clock), deadline: fakeDeadline(world.clock, 14 * MINUTE) },
    );
    expect(report.results[0]).toMatchObject({ outcome: 'created' });
    expect(world.ec2.createCalls).toHaveLength(1);
    const generation = world.catalog.all()[0];
    expect(generation?.snapshots).toHaveLength(2);
    // Taken over at the lease's end, not a moment before.
    expect(Date.parse(generation?.claimedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(claimedAt) + CLAIM_LEASE_MS,
    );
    expect(world.log.messages('info')).toContain('waiting for claims held by other deliveries');
  });

  it("records missed, naming the claim, when the lease outlasts the run's deadline, and fails the target", async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    const claimedAt = world.catalog.all()[0]?.claimedAt ?? '';
    world.clock.advance(MINUTE);
    const deadline = fakeDeadline(world.clock, RETAKE_RESERVE_MS + 3 * MINUTE);
    const report = await world.run({}, { timer: fakeTimer(world.clock), deadline });
    const [result] = report.results;
    const leaseEndsAt = new Date(Date.parse(claimedAt) + CLAIM_LEASE_MS).toISOString();
    expect(result).toMatchObject({
      outcome: 'missed',
      claim: { claimedAt, leaseEndsAt },
      failure: expect.stringContaining(`its lease ends at ${leaseEndsAt}`),
    });
    expect(result && isFailedTarget(result)).toBe(true);
    // It waited as long as its deadline allowed, and never took the claim.
    expect(deadline.remainingMs()).toBeLessThanOrEqual(RETAKE_RESERVE_MS);
    expect(world.ec2.createCalls).toHaveLength(0);
    const generation = world.catalog.all()[0];
    expect(generation).toMatchObject({ claimedAt, state: 'pending' });
    expect(generation?.notes).toEqual([expect.stringContaining(`a delivery of the run missed:`)]);
  });

  it('never sleeps more than one lease in all, even on a clock that stands still', async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    let slept = 0;
    const standing = {
      sleep: async (ms: number) => {
        slept += ms;
      },
    };
    const report = await world.run({}, { timer: standing });
    expect(report.results[0]?.outcome).toBe('missed');
    expect(slept).toBe(CLAIM_LEASE_MS);
    expect(world.ec2.createCalls).toHaveLength(0);
  });

  it('finds the generation recorded when the live holder records it while the run waits', async () => {
    const world = withInstances(1);
    world.catalog.faults.onCall('recordOutcome', () => world.clock.advance(2 * MINUTE));
    // The holder is slow: its record lands two minutes after its create call, and a duplicate arrives meanwhile.
    const timer = fakeTimer(world.clock);
    let duplicate: Promise<Awaited<ReturnType<typeof world.run>>> | undefined;
    world.ec2.faults.onCall('snapshotInstance', () => {
      duplicate ??= world.run({}, { timer, deadline: fakeDeadline(world.clock, 15 * MINUTE) });
    });
    const first = await world.run();
    const second = await duplicate;
    expect(first.results[0]?.outcome).toBe('created');
    expect(second?.results[0]).toMatchObject({
      outcome: 'existing',
      snapshotIds: first.results[0]?.snapshotIds,
    });
    expect(world.ec2.createCalls).toHaveLength(1);
  });

  it('waits on a held target only after the others are taken, so the wait holds no worker', async () => {
    const world = withInstances(3);
    const heldId = world.fleet[0]?.instanceId ?? '';
    // A dead delivery's claim on the first target, its lease ending in five minutes.
    await world.catalog.claim({
      id: idOf(heldId),
      policy: 'daily',
      schedule: 'daily',
      target: { kind: 'instance', id: heldId },
      scheduledAt: SCHEDULED_AT,
      claimedAt: new Date(world.clock.now().getTime() - CLAIM_LEASE_MS + 5 * MINUTE).toISOString(),
      state: 'pending',
      consistency: 'crash',
      snapshots: [],
      copies: [],
    });
    const start = world.clock.now().toISOString();
    const report = await world.run(
      {},
      { concurrency: 1, timer: fakeTimer(world.clock), deadline: fakeDeadline(world.clock, 15 * MINUTE) },
    );
    expect(report.results.map((r) => r.outcome)).toEqual(['created', 'created', 'created']);
    const takenAt = (id: string) => world.catalog.all().find((g) => g.target.id === id)?.takenAt;
    expect(takenAt(world.fleet[1]?.instanceId ?? '')).toBe(start);
    expect(takenAt(world.fleet[2]?.instanceId ?? '')).toBe(start);
    expect(takenAt(heldId)).toBe(new Date(Date.parse(start) + 5 * MINUTE).toISOString());
  });

  it('takes over a claim older than the lease and takes the snapshots', async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    world.clock.advance(CLAIM_LEASE_MS + MINUTE);
    const report = await world.run();
    expect(report.results[0]?.outcome).toBe('created');
    expect(world.ec2.createCalls).toHaveLength(1);
    const generation = await world.catalog.get(idOf(world.fleet[0]?.instanceId ?? ''));
    expect(generation?.claimedAt).toBe(world.clock.now().toISOString());
    expect(generation?.snapshots).toHaveLength(2);
    expect(world.log.messages('warn')).toContain('took over a stale claim');
  });

  it('does not take over a stale claim that another delivery took over first', async () => {
    const world = withInstances(1);
    await crashedAfterClaim(world);
    world.clock.advance(CLAIM_LEASE_MS + MINUTE);
    world.catalog.faults.onCall('takeOver', async (fresh) => {
      // Another delivery won the race: its takeOver changed claimedAt just before ours.
      const current = await world.catalog.get(fresh.id);
      if (current)
        world.catalog.seed({
          ...current,
          claimedAt: new Date(Date.parse(fresh.claimedAt) - 1).toISOString(),
        });
    });
    const report = await world.run();
    expect(report.results[0]?.outcome).toBe('missed');
    expect(world.ec2.createCalls).toHaveLength(0);
  });
});

describe('runSchedule: failures', () => {
  it('records a failed generation with the reason and keeps the other targets going', async () => {
    const { run, catalog, ec2, fleet } = withInstances(3);
    const broken = fleet[1]?.instanceId;
    ec2.faults.failNext('snapshotInstance', {
      when: (request) => request.instanceId === broken,
      error: new Error('SnapshotCreationPerVolumeRateExceeded: too many snapshots'),
    });
    const report = await run();
    const byTarget = new Map(report.results.map((r) => [r.targetId, r]));
    expect(byTarget.get(broken ?? '')).toMatchObject({
      outcome: 'failed',
      state: 'failed',
      failure: expect.stringContaining('SnapshotCreationPerVolumeRateExceeded'),
    });
    expect(report.results.filter((r) => r.outcome === 'created')).toHaveLength(2);
    expect(await catalog.get(idOf(broken ?? ''))).toMatchObject({
      state: 'failed',
      failure: expect.stringContaining('SnapshotCreationPerVolumeRateExceeded'),
    });
  });

  it('retries a failed generation when the run is delivered again', async () => {
    const { run, catalog, ec2, clock, fleet } = withInstances(1);
    ec2.faults.failNext('snapshotInstance', { error: new Error('InternalError') });
    expect((await run()).results[0]?.outcome).toBe('failed');
    clock.advance(MINUTE);
    const second = await run();
    expect(second.results[0]).toMatchObject({ outcome: 'created', state: 'pending' });
    expect(second.results[0]?.failure).toBeUndefined();
    const generation = await catalog.get(idOf(fleet[0]?.instanceId ?? ''));
    expect(generation).toMatchObject({
      state: 'pending',
      consistency: 'crash',
      claimedAt: clock.now().toISOString(),
    });
    expect(generation?.failure).toBeUndefined();
    expect(generation?.snapshots).toHaveLength(2);
    expect(catalog.all()).toHaveLength(1);
  });
});

describe('runSchedule: selection', () => {
  it('selects only instances whose snapkeeper:policy list really contains the policy', async () => {
    const world = aWorld();
    const exact = anInstance({ tags: policyTag('daily') });
    const inList = anInstance({ tags: { [TAG.policy]: 'weekly, daily' } });
    const padded = anInstance({ tags: { [TAG.policy]: ' daily ,hourly' } });
    const longer = anInstance({ tags: policyTag('daily-long') });
    const prefix = anInstance({ tags: policyTag('nightly-daily-x') });
    const untagged = anInstance({ tags: { Name: 'daily' } });
    world.ec2.add(exact, inList, padded, longer, prefix, untagged);
    const report = await world.run();
    expect(report.results.map((r) => r.targetId).sort()).toEqual(
      [exact.instanceId, inList.instanceId, padded.instanceId].sort(),
    );
  });

  it('snapshots stopped instances and reports terminated and pending ones as problems', async () => {
    const world = aWorld();
    const stopped = anInstance({ tags: policyTag('daily'), state: 'stopped' });
    const terminated = anInstance({ tags: policyTag('daily'), state: 'terminated' });
    const pending = anInstance({ tags: policyTag('daily'), state: 'pending' });
    world.ec2.add(stopped, terminated, pending);
    const report = await world.run();
    expect(report.results.map((r) => r.targetId)).toEqual([stopped.instanceId]);
    expect(report.problems).toEqual([
      { resourceId: terminated.instanceId, problem: expect.stringContaining('terminated') },
      { resourceId: pending.instanceId, problem: expect.stringContaining('pending') },
    ]);
  });

  it('passes volumes tagged snapkeeper:exclude=true as exclusions', async () => {
    const world = aWorld();
    const web = anInstance({
      volumes: 3,
      tags: policyTag('daily'),
      volumeTags: [{}, { [TAG.exclude]: 'TRUE' }, {}],
    });
    world.ec2.add(web);
    await world.run();
    const request = instanceCall(world.ec2.createCalls[0]);
    expect(request).toMatchObject({ excludeBootVolume: false, excludeVolumeIds: [web.dataVolumeIds[0]] });
    expect(world.ec2.allSnapshots().map((s) => s.volumeId)).toEqual([web.bootVolumeId, web.dataVolumeIds[1]]);
  });

  it('excludes the boot volume when the policy says so', async () => {
    const world = aWorld({ config: aConfig({ policies: [aPolicy({ excludeBootVolume: true })] }) });
    const web = anInstance({ volumes: 2, tags: policyTag('daily') });
    world.ec2.add(web);
    const report = await world.run();
    expect(instanceCall(world.ec2.createCalls[0])).toMatchObject({
      excludeBootVolume: true,
      excludeVolumeIds: [],
    });
    const generation = await world.catalog.get(report.results[0]?.generationId ?? '');
    expect(generation?.snapshots.map((s) => s.volumeId)).toEqual(web.dataVolumeIds);
  });

  it('reports an instance with every volume excluded as a problem, not a generation', async () => {
    const world = aWorld({ config: aConfig({ policies: [aPolicy({ excludeBootVolume: true })] }) });
    const bare = anInstance({
      volumes: 2,
      tags: policyTag('daily'),
      volumeTags: [{}, { [TAG.exclude]: 'true' }],
    });
    world.ec2.add(bare);
    const report = await world.run();
    expect(report.results).toEqual([]);
    expect(report.problems).toEqual([
      { resourceId: bare.instanceId, problem: expect.stringContaining('excluded') },
    ]);
    expect(world.catalog.all()).toEqual([]);
    expect(world.ec2.createCalls).toEqual([]);
  });

  it('snapshots standalone volumes of a volumes policy, one generation each', async () => {
    const world = aWorld({ config: aConfig({ policies: [aPolicy({ name: 'vols', targets: 'volumes' })] }) });
    const a = aVolume({ tags: policyTag('vols') });
    const b = aVolume({ tags: policyTag('other, vols'), state: 'in-use' });
    const broken = aVolume({ tags: policyTag('vols'), state: 'error' });
    const other = aVolume({ tags: policyTag('vols-2') });
    world.ec2.add(a, b, broken, other);
    const report = await world.run({ policy: 'vols' });
    expect(report.results.map((r) => r.targetId)).toEqual([a.volumeId, b.volumeId]);
    expect(report.problems).toEqual([
      { resourceId: broken.volumeId, problem: expect.stringContaining('error') },
    ]);
    expect(world.ec2.createCalls.map((c) => c.operation)).toEqual(['CreateSnapshot', 'CreateSnapshot']);
  });
});

describe('runSchedule: what is recorded and tagged', () => {
  it('tags snapshots at creation with our keys and the expanded policy tags', async () => {
    const config = aConfig({
      policies: [
        aPolicy({ tags: { Backup: '$(policy)-$(schedule)', Of: '$(instance-id)', At: '$(timestamp)' } }),
      ],
    });
    const world = aWorld({ config });
    const web = anInstance({ tags: policyTag('daily') });
    world.ec2.add(web);
    const report = await world.run();
    const tags = instanceCall(world.ec2.createCalls[0]).tags;
    expect(tags).toEqual({
      [TAG.managed]: 'true',
      [TAG.policy]: 'daily',
      [TAG.schedule]: 'daily',
      [TAG.generation]: report.results[0]?.generationId,
      [TAG.sourceInstance]: web.instanceId,
      Backup: 'daily-daily',
      Of: web.instanceId,
      At: SCHEDULED_AT,
      [TAG.mark]: markOf(TEST_MARK_SECRET, {
        kind: 'instance',
        generationId: report.results[0]?.generationId ?? '',
        instanceId: web.instanceId,
      }),
    });
    for (const snapshot of world.ec2.allSnapshots()) expect(snapshot.tags).toMatchObject(tags);
  });

  it('carries the volume tags to snapshots of volume targets, without aws: keys', async () => {
    const config = aConfig({
      policies: [aPolicy({ name: 'vols', targets: 'volumes', tags: { Of: '$(volume-id)' } })],
    });
    const world = aWorld({ config });
    const volume = aVolume({
      tags: {
        ...policyTag('vols'),
        Name: 'db-data',
        'aws:cloudformation:stack-name': 'db',
        Team: 'payments',
      },
    });
    world.ec2.add(volume);
    const report = await world.run({ policy: 'vols' });
    const call = world.ec2.createCalls[0];
    expect(call?.operation).toBe('CreateSnapshot');
    expect(call?.request.tags).toEqual({
      Name: 'db-data',
      Team: 'payments',
      Of: volume.volumeId,
      [TAG.managed]: 'true',
      [TAG.policy]: 'vols',
      [TAG.schedule]: 'daily',
      [TAG.generation]: report.results[0]?.generationId,
      [TAG.sourceVolume]: volume.volumeId,
      [TAG.mark]: markOf(TEST_MARK_SECRET, {
        kind: 'volume',
        generationId: report.results[0]?.generationId ?? '',
        volumeId: volume.volumeId,
      }),
    });
  });

  it('asks EC2 to copy volume tags onto an instance set unless one collides with ours', async () => {
    const world = aWorld({ config: aConfig({ policies: [aPolicy({ tags: { Backup: 'yes' } })] }) });
    const plain = anInstance({ tags: policyTag('daily'), volumeTags: [{ Name: 'boot' }, { Name: 'data' }] });
    const colliding = anInstance({
      tags: policyTag('daily'),
      volumeTags: [{ Name: 'boot' }, { Backup: 'no' }],
    });
    world.ec2.add(plain, colliding);
    await world.run();
    const copy = new Map(
      world.ec2.createCalls.map((c) => [instanceCall(c).instanceId, instanceCall(c).copyVolumeTags]),
    );
    expect(copy.get(plain.instanceId)).toBe(true);
    expect(copy.get(colliding.instanceId)).toBe(false);
  });

  it('records takenAt as the clock at the create call', async () => {
    const world = withInstances(1);
    world.catalog.faults.onCall('claim', () => world.clock.advance(7_000));
    world.ec2.faults.onCall('snapshotInstance', () => world.clock.advance(30_000)); // a slow call
    const report = await world.run();
    const call = world.ec2.createCalls[0];
    const generation = await world.catalog.get(report.results[0]?.generationId ?? '');
    expect(generation?.claimedAt).toBe('2026-11-21T03:00:00.000Z');
    expect(generation?.takenAt).toBe('2026-11-21T03:00:07.000Z');
    expect(call?.at).toBe('2026-11-21T03:00:07.000Z');
    expect(world.clock.now().toISOString()).toBe('2026-11-21T03:00:37.000Z');
  });

  it('records each volume with its size, type, iops, device and user tags', async () => {
    const world = aWorld();
    const web = anInstance({
      volumes: 2,
      tags: policyTag('daily'),
      volumeTags: [{ Name: 'root' }, { Name: 'data', 'aws:ec2launchtemplate:id': 'lt-1' }],
    });
    world.ec2.add(web);
    const report = await world.run();
    const generation = await world.catalog.get(report.results[0]?.generationId ?? '');
    expect(generation).toMatchObject({
      policy: 'daily',
      schedule: 'daily',
      target: { kind: 'instance', id: web.instanceId },
      scheduledAt: SCHEDULED_AT,
      state: 'pending',
      consistency: 'crash',
    });
    expect(generation?.snapshots).toEqual([
      expect.objectContaining({
        volumeId: web.bootVolumeId,
        deviceName: '/dev/xvda',
        sizeGiB: 8,
        volumeType: 'gp3',
        iops: 3000,
        throughput: 125,
        encrypted: true,
        region: 'us-east-1',
        state: 'pending',
        volumeTags: { Name: 'root' },
      }),
      expect.objectContaining({
        volumeId: web.dataVolumeIds[0],
        deviceName: '/dev/sdf',
        sizeGiB: 20,
        volumeTags: { Name: 'data' },
      }),
    ]);
  });

  it('records a filesystem-consistency policy that could not freeze honestly as crash-consistent, and says so', async () => {
    const config = aConfig({ policies: [aPolicy({ consistency: { mode: 'filesystem' } })] });
    const world = aWorld({ config }); // built without a freeze agent: every freeze fails
    world.ec2.add(anInstance({ tags: policyTag('daily') }));
    const report = await world.run();
    const generation = await world.catalog.get(report.results[0]?.generationId ?? '');
    expect(generation?.consistency).toBe('crash');
    expect(generation?.snapshots.every((s) => s.consistency === 'crash')).toBe(true);
    expect(report.results[0]?.freezeFailure).toMatch(/without a freeze agent/);
    expect(world.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'freeze failed',
        data: expect.objectContaining({ onFailure: 'crash' }),
      }),
    );
  });

  it('records a generation completed when EC2 reports its snapshots completed at once', async () => {
    const world = withInstances(1);
    world.ec2.startState = 'completed';
    const report = await world.run();
    expect(report.results[0]?.state).toBe('completed');
    // Still open, but only for retention to place it: nothing left to advance.
    const open = await world.catalog.openGenerations();
    expect(open.map((g) => [g.state, g.retentionAppliedAt])).toEqual([['completed', undefined]]);
  });
});
