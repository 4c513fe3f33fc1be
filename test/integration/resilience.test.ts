import { DescribeSnapshotsCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { aVolume } from '../support/fleet.ts';

// What the emulator cannot do on its own, through the fault seam: lost responses, throttling, and snapshots
// that stay pending. Real adapters and the real catalog throughout.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'resilience-catalog' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 3 } }],
    },
  ],
});
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
const run = (scheduledAt: string, clients: AwsClients) =>
  runSchedule({ policy: 'nightly', schedule: 'nightly', scheduledAt }, runDeps({ config, clients, log }));

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('a create call whose response is lost after EC2 made the snapshot', () => {
  let volumeId: string;
  beforeAll(async () => {
    volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
  });

  it('is recorded failed, then adopted by the retry instead of snapshotted twice, and completes', async () => {
    // A call whose answer is thrown away is not in the fault seam's record, so the rule counts what it lost.
    let lost = 0;
    const faults = newFaults().use({
      actions: ['CreateSnapshot'],
      after: () => {
        lost += 1;
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      },
    });
    // The run looks for what a lost create made before creating again; EC2 failing that look-up too leaves the
    // first delivery nothing to record but a failure, and the redelivery must then adopt the snapshot.
    faults.fail('DescribeSnapshots', {
      name: 'InternalError',
      httpStatusCode: 500,
      fault: 'server',
      when: () => lost > 0,
    });
    const scheduledAt = '2026-11-20T01:00:00.000Z';
    const first = await run(
      scheduledAt,
      new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }),
    );
    expect(first.results[0]).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(lost).toBe(1);
    expect(faults.count('DescribeSnapshots', 'failed')).toBe(1);

    const retry = await run(scheduledAt, new AwsClients());
    expect(retry.results[0]).toMatchObject({ outcome: 'adopted' });
    expect(retry.results[0]?.failure).toBeUndefined();
    const snapshots = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }),
    );
    expect(snapshots.Snapshots).toHaveLength(1);

    const catalog = catalogFor(config, new AwsClients());
    const [generation] = await catalog.byVolume(volumeId);
    expect(generation).toMatchObject({
      consistency: 'crash',
      snapshots: [{ snapshotId: snapshots.Snapshots?.[0]?.SnapshotId }],
    });
    expect(generation?.failure).toBeUndefined();
    expect(await catalog.byVolume(volumeId)).toHaveLength(1);
  });
});

describe('snapshots that stay pending', () => {
  it('are recorded pending and completed by reconcile once EC2 says so', async () => {
    await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    const faults = newFaults().pendingSnapshots({ forCalls: 1 });
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const report = await run('2026-11-21T01:00:00.000Z', clients);
    expect(report.results.every((r) => r.state === 'pending')).toBe(true);

    const deps = reconcileDeps({ config, clients, log });
    const firstPass = await reconcile(deps);
    expect(firstPass.stillPending).toEqual(expect.arrayContaining(report.results.map((r) => r.generationId)));
    const secondPass = await reconcile(deps);
    expect(secondPass.completed).toEqual(expect.arrayContaining(report.results.map((r) => r.generationId)));
    expect((await reconcile(deps)).examined).toBe(0);
  });
});

describe('a snapshot that EC2 reports in error', () => {
  it('fails its generation with the snapshot named, and the next pass leaves it alone', async () => {
    await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    const broken = new Set<string>();
    const faults = newFaults()
      .pendingSnapshots({ forCalls: 0 })
      .transform('DescribeSnapshots', (output) => ({
        ...output,
        Snapshots: ((output.Snapshots ?? []) as { SnapshotId?: string; State?: string }[]).map((s) =>
          broken.has(s.SnapshotId ?? '') ? { ...s, State: 'error' } : s,
        ),
      }));
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const report = await run('2026-11-23T01:00:00.000Z', clients);
    const [created] = report.results;
    for (const id of created?.snapshotIds ?? []) broken.add(id);

    const pass = await reconcile(reconcileDeps({ config, clients, log }));
    expect(pass.failed).toContainEqual({
      generationId: created?.generationId,
      failure: `snapshots in error or missing: ${created?.snapshotIds.join(', ')}`,
    });
    const generation = await catalogFor(config, clients).get(created?.generationId ?? '');
    expect(generation).toMatchObject({ state: 'failed', consistency: 'failed' });
    expect((await reconcile(reconcileDeps({ config, clients, log }))).failed).toEqual([]);
  });
});

describe('EC2 throttling', () => {
  it('slows a run down but fails no target', async () => {
    for (let i = 0; i < 6; i++) await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    // A small bucket, so most create calls meet an empty one at first; the SDK's retries wait it out.
    const faults = newFaults({ seed: 7 }).throttle(['CreateSnapshot'], { ratePerSecond: 10, burst: 2 });
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const report = await run('2026-11-22T01:00:00.000Z', clients);
    expect(report.results.length).toBeGreaterThanOrEqual(6);
    expect(report.results.filter((r) => r.outcome === 'failed')).toEqual([]);
    expect(faults.count('CreateSnapshot', 'throttled')).toBeGreaterThan(0);
    // Every throttle was retried away: each one is a throttled call absorbed, the run's metric and summary figure.
    expect(clients.throttles.absorbed).toBe(faults.count('CreateSnapshot', 'throttled'));
  });

  it('counts as absorbed only the throttles the SDK retried, not the one that failed the call', async () => {
    // One token, never refilled: the first call passes, every attempt after it is throttled.
    const faults = newFaults().throttle(['DescribeVolumes'], { ratePerSecond: 0, burst: 1 });
    const clients = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 3 });
    await clients.ec2('us-east-1').send(new DescribeVolumesCommand({}));
    await expect(clients.ec2('us-east-1').send(new DescribeVolumesCommand({}))).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
    });
    expect(faults.count('DescribeVolumes', 'throttled')).toBe(3);
    expect(clients.throttles.absorbed).toBe(2);
  });
});
