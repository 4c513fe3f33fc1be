import { describe, expect, it } from 'vitest';
import { volumesFrozen } from '#core/backup/freeze-report.ts';
import { selectTargets } from '#core/backup/selection.ts';
import type { Policy } from '#core/config/config.ts';
import { fakeDeadline } from '../../support/fake-agent.ts';
import { anInstance, aWorld, policyTag } from '../../support/fakes.ts';
import { freezeReport, freezing } from '../../support/freezing.ts';

describe('the freeze report', () => {
  const { instance, volumeIds } = anInstance({ volumes: 3 });
  it('names volumes by NVMe serial, or by device letter on Xen, and nothing else', () => {
    const output = [
      `SNAPKEEPER_FROZEN /data /dev/nvme1n1 ${volumeIds[1]?.replace('-', '')}`,
      'SNAPKEEPER_FROZEN /logs /dev/xvdg1 -',
      'SNAPKEEPER_FROZEN /other /dev/xvdq -',
      'SNAPKEEPER_FREEZE_OK',
    ].join('\n');
    expect(volumesFrozen(output, instance)).toEqual(new Set([volumeIds[1], volumeIds[2]]));
  });

  it('is no report at all without its closing line', () => {
    expect(volumesFrozen('SNAPKEEPER_FROZEN /data /dev/xvdf -', instance)).toBeUndefined();
  });
});

describe('a filesystem-consistent run', () => {
  it('records filesystem for the volumes the agent froze, the window, and thaws after the create call', async () => {
    const world = freezing();
    const web = anInstance({ tags: policyTag('daily') });
    world.add(web);
    world.ec2.faults.onCall('snapshotInstance', () => world.clock.advance(300));
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'filesystem' });
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
    const [generation] = world.catalog.all();
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual(['filesystem', 'filesystem']);
    expect(generation?.freezeWindowMs).toBeGreaterThanOrEqual(300);
    expect(world.agent.sent[1]?.at).toBeGreaterThanOrEqual(
      Date.parse(world.ec2.createCalls[0]?.at ?? '') + 300,
    );
  });

  it('records crash when the create call returned after the watchdog could have thawed', async () => {
    const world = freezing({ timeoutSeconds: 2 });
    world.add(anInstance({ tags: policyTag('daily') }));
    world.ec2.faults.onCall('snapshotInstance', () => world.clock.advance(2500));
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
  });

  it('does not freeze a stopped instance, and records it crash without applying onFailure', async () => {
    const world = freezing({ onFailure: 'skip' });
    world.add(anInstance({ tags: policyTag('daily'), state: 'stopped' }));
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(world.agent.sent).toEqual([]);
  });
});

describe('the Lambda nearing its timeout', () => {
  it('is not even sent a freeze when too little time is left to thaw safely', async () => {
    const world = freezing({ onFailure: 'skip' });
    world.add(anInstance({ tags: policyTag('daily') }));
    const [result] = (await world.run(fakeDeadline(world.clock, 12_000))).results;
    expect(result?.failure).toMatch(/only 12000 ms of invocation time left; a freeze needs 15000 ms/);
    expect(world.agent.sent).toEqual([]);
  });

  it('abandons a freeze still unacknowledged and thaws it', async () => {
    const world = freezing({ timeoutSeconds: 20 });
    world.add(anInstance({ tags: policyTag('daily') }));
    world.agent.polls = 1_000;
    // SSM answering slowly eats into the invocation after the time check passed.
    const online = world.agent.onlineAgents.bind(world.agent);
    world.agent.onlineAgents = async (ids) => {
      world.clock.advance(18_000);
      return online(ids);
    };
    const [result] = (await world.run(fakeDeadline(world.clock, 26_000))).results;
    expect(result?.freezeFailure).toMatch(/nearing its timeout/);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
  });
});

describe('thaws', () => {
  it('retries a thaw whose send failed', async () => {
    const world = freezing();
    world.add(anInstance({ tags: policyTag('daily') }));
    world.agent.failSends = { thaw: 2 };
    const [result] = (await world.run()).results;
    expect(result?.thawProblems).toBeUndefined();
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
    expect(world.log.messages('warn')).toContain('thaw not sent; retrying');
  });

  it('resends a thaw that failed on the instance, and reports one that fails again', async () => {
    const world = freezing();
    const web = anInstance({ tags: policyTag('daily') });
    world.add(web);
    world.agent.outcome = (command) =>
      command.action === 'thaw'
        ? { state: 'failed', reason: 'Failed: fsfreeze -u: busy' }
        : { state: 'succeeded', output: freezeReport(...web.volumeIds) };
    const [result] = (await world.run()).results;
    expect(world.agent.actions()).toEqual(['freeze', 'thaw', 'thaw']);
    expect(result?.thawProblems).toEqual([
      expect.stringMatching(/thaw Failed: fsfreeze -u: busy; the watchdog thaws it/),
    ]);
    expect(result?.outcome).toBe('created');
  });
});

describe('a consistency group', () => {
  it('records a member whose create failed with the others, failed, so no snapshot is orphaned', async () => {
    const world = freezing();
    const [a, b] = [
      anInstance({ tags: { ...policyTag('daily'), 'snapkeeper:group': 'db' } }),
      anInstance({ tags: { ...policyTag('daily'), 'snapkeeper:group': 'db' } }),
    ];
    world.add(a, b);
    world.ec2.faults.failNext('snapshotInstance', {
      when: (r) => r.instanceId === b.instanceId,
      error: new Error('IncorrectState: terminated'),
    });
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ targetId: 'group:db', outcome: 'failed' });
    expect(result?.failure).toMatch(
      /create failed after a successful freeze \(thaw sent\).*IncorrectState: terminated/,
    );
    const [generation] = world.catalog.all();
    expect(generation).toMatchObject({ state: 'failed', consistency: 'failed' });
    expect(generation?.snapshots.map((s) => s.instanceId)).toEqual([a.instanceId, a.instanceId]);
    expect(world.agent.actions(a.instanceId)).toEqual(['freeze', 'thaw']);
    expect(world.agent.actions(b.instanceId)).toEqual(['freeze', 'thaw']);
  });
});

describe('exclusions and drift', () => {
  it('snapshots a multi-attached volume once, through the instance with the lowest id, and reports it', async () => {
    const world = aWorld();
    const a = anInstance({ tags: policyTag('daily') });
    const b = anInstance({ tags: policyTag('daily') });
    const shared = a.volumes[1];
    if (!shared) throw new Error('no data volume');
    b.instance.volumes.push({ volumeId: shared.volumeId, deviceName: '/dev/sdk' });
    world.ec2.add(a, b);
    const selection = await selectTargets(world.config.policies[0] as Policy, world.ec2);
    const [first, second] = selection.targets;
    expect(first?.volumes.map((v) => v.volumeId)).toContain(shared.volumeId);
    expect(second?.excluded).toEqual([{ volumeId: shared.volumeId, reason: 'multi-attach' }]);
    expect(selection.problems).toEqual([
      { resourceId: shared.volumeId, problem: expect.stringMatching(/multi-attached/) },
    ]);
    // Both generations say so on their own record, not only the run's report.
    await world.run();
    const notes = world.catalog.all().map((g) => g.notes);
    expect(notes).toEqual([
      [expect.stringMatching(new RegExp(`^${shared.volumeId}: multi-attached`))],
      [expect.stringMatching(new RegExp(`^${shared.volumeId}: multi-attached`))],
    ]);
  });

  it('reports a volume detached between planning and the snapshot, and records what was taken', async () => {
    const world = aWorld();
    const web = anInstance({ tags: policyTag('daily'), volumes: 3 });
    world.ec2.add(web);
    const detached = web.dataVolumeIds[1] ?? '';
    world.ec2.faults.onCall('snapshotInstance', () => {
      const instance = world.ec2.instanceMap.get(web.instanceId);
      if (instance) instance.volumes = instance.volumes.filter((v) => v.volumeId !== detached);
    });
    const run = await world.run();
    expect(run.problems).toEqual([
      { resourceId: detached, problem: expect.stringMatching(/detached or deleted between planning/) },
    ]);
    const [generation] = world.catalog.all();
    expect(generation?.snapshots.map((s) => s.volumeId)).not.toContain(detached);
    expect(generation?.notes).toEqual([`${detached}: ${run.problems[0]?.problem}`]);
  });

  it('records an instance terminated mid-run as a failed generation with the reason', async () => {
    const world = aWorld();
    const web = anInstance({ tags: policyTag('daily') });
    world.ec2.add(web);
    world.ec2.faults.onCall('snapshotInstance', () => {
      world.ec2.instanceMap.delete(web.instanceId);
    });
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({
      outcome: 'failed',
      failure: expect.stringMatching(/InvalidInstanceID.NotFound/),
    });
  });
});
