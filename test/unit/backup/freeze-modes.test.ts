import { describe, expect, it } from 'vitest';
import { anInstance, policyTag } from '../../support/fakes.ts';
import { freezing } from '../../support/freezing.ts';

// `script` mode and Windows VSS: what is sent to the agent, what the generation records, and the thaw (the
// post-script, or VSS Thaw) on every path. The SSM documents and parameters themselves are checked against the
// emulator in test/integration/freeze-modes.test.ts.

const DOCUMENT = 'acme-quiesce-postgres';

function scripted(onFailure: 'crash' | 'skip' = 'crash') {
  const world = freezing({ consistency: { mode: 'script', document: DOCUMENT, onFailure } });
  // A script prints whatever it likes: no fsfreeze report is expected from it.
  world.agent.outcome = () => ({ state: 'succeeded', output: 'quiesced' });
  const db = anInstance({ tags: policyTag('daily'), volumes: 3 });
  world.add(db);
  return { ...world, db };
}

function windows(onFailure: 'crash' | 'skip' = 'crash') {
  const world = freezing({ onFailure });
  world.agent.outcome = () => ({ state: 'succeeded', output: '' });
  const sql = anInstance({ tags: policyTag('daily'), platform: 'windows' });
  world.add(sql);
  return { ...world, sql };
}

describe('script mode', () => {
  it("runs the user's document as pre-script, snapshots, runs it as post-script, and records application", async () => {
    const world = scripted();
    world.ec2.faults.onCall('snapshotInstance', () => world.clock.advance(200));
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'application' });
    expect(world.agent.sent).toEqual([
      expect.objectContaining({ action: 'freeze', mode: 'script', scriptDocument: DOCUMENT }),
      expect.objectContaining({ action: 'thaw', mode: 'script', scriptDocument: DOCUMENT }),
    ]);
    const createdAt = Date.parse(world.ec2.createCalls[0]?.at ?? '');
    expect(world.agent.sent[0]?.at).toBeLessThanOrEqual(createdAt);
    expect(world.agent.sent[1]?.at).toBeGreaterThanOrEqual(createdAt + 200);
    const [generation] = world.catalog.all();
    // Every volume, not only those a report would name: the script quiesces the application itself.
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual([
      'application',
      'application',
      'application',
    ]);
    expect(generation).toMatchObject({ consistency: 'application', state: 'pending' });
    expect(generation?.freezeWindowMs).toBeGreaterThanOrEqual(200);
  });

  it('takes a crash-consistent generation when the pre-script fails (onFailure crash), and still runs the post-script', async () => {
    const world = scripted('crash');
    world.agent.outcome = (command) =>
      command.action === 'freeze'
        ? { state: 'failed', reason: 'Failed: pg_start_backup: permission denied' }
        : { state: 'succeeded', output: '' };
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(result?.freezeFailure).toMatch(/freeze failed on i-.*pg_start_backup: permission denied/);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
    // The post-script left before the crash-consistent create call.
    expect(world.agent.sent[1]?.at).toBeLessThanOrEqual(Date.parse(world.ec2.createCalls[0]?.at ?? ''));
    const [generation] = world.catalog.all();
    expect(generation?.snapshots.every((s) => s.consistency === 'crash')).toBe(true);
    expect(generation?.notes).toEqual([expect.stringMatching(/^freeze failed; taken crash-consistent/)]);
  });

  it('records a failed generation with no snapshot when the pre-script fails (onFailure skip), after the post-script', async () => {
    const world = scripted('skip');
    world.agent.outcome = (command) =>
      command.action === 'freeze'
        ? { state: 'failed', reason: 'Failed: exit status 3' }
        : { state: 'succeeded', output: '' };
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(/onFailure: skip.*exit status 3/);
    expect(world.ec2.createCalls).toEqual([]);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
    expect(world.catalog.all()[0]).toMatchObject({ state: 'failed', consistency: 'failed', snapshots: [] });
  });

  it('runs the post-script when the pre-script never finishes', async () => {
    const world = scripted('crash');
    world.agent.polls = 1_000;
    const [result] = (await world.run()).results;
    expect(result?.freezeFailure).toMatch(/not acknowledged within 5000 ms/);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
  });

  it('runs the post-script when the create call fails after the pre-script, and fails the generation', async () => {
    const world = scripted();
    world.ec2.faults.failNext('snapshotInstance', { error: new Error('InternalError: boom') });
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(/InternalError: boom/);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
  });
});

describe('Windows (VSS)', () => {
  it('freezes through VSS, thaws after the create call, and records application for every volume', async () => {
    const world = windows();
    world.ec2.faults.onCall('snapshotInstance', () => world.clock.advance(150));
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'application' });
    expect(world.agent.sent).toEqual([
      expect.objectContaining({ action: 'freeze', mode: 'filesystem', windows: true }),
      expect.objectContaining({ action: 'thaw', mode: 'filesystem', windows: true }),
    ]);
    expect(world.agent.sent[1]?.at).toBeGreaterThanOrEqual(
      Date.parse(world.ec2.createCalls[0]?.at ?? '') + 150,
    );
    const [generation] = world.catalog.all();
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual(['application', 'application']);
  });

  it('follows onFailure crash when the VSS freeze fails, and still sends the thaw', async () => {
    const world = windows('crash');
    world.agent.outcome = (command) =>
      command.action === 'freeze'
        ? { state: 'failed', reason: 'Failed: VSS writer SqlServerWriter timed out' }
        : { state: 'succeeded', output: '' };
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(result?.freezeFailure).toMatch(/SqlServerWriter timed out/);
    expect(world.agent.actions(world.sql.instanceId)).toEqual(['freeze', 'thaw']);
  });

  it('follows onFailure skip when the VSS freeze fails: failed, no snapshot, thaw sent', async () => {
    const world = windows('skip');
    world.agent.outcome = (command) =>
      command.action === 'freeze'
        ? { state: 'failed', reason: 'Failed: VSS not installed' }
        : { state: 'succeeded', output: '' };
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(world.ec2.createCalls).toEqual([]);
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
  });

  it('sends the thaw when the create call fails after the VSS freeze, and fails the generation', async () => {
    const world = windows();
    let createdAt = 0;
    world.ec2.faults.onCall('snapshotInstance', () => {
      createdAt = world.clock.now().getTime();
      world.clock.advance(100);
    });
    world.ec2.faults.failNext('snapshotInstance', { error: new Error('IncorrectState: stopping') });
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(
      /create failed after a successful freeze \(thaw sent\): i-.*IncorrectState: stopping/,
    );
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);
    expect(world.agent.sent[1]?.at).toBeGreaterThanOrEqual(createdAt + 100);
  });
});
