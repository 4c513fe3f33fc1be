import { writeFileSync } from 'node:fs';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import { RETAKE_RESERVE_MS } from '#core/backup/held-claims.ts';
import type { RunReport } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { RunFailedError } from '#core/model/errors.ts';
import { generationId } from '#core/model/generation.ts';
import type { Clock } from '#core/model/ports.ts';
import { createScheduledRunHandler } from '#handlers/scheduled-run.ts';
import { catalogFor, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { metricsRecorder } from '../support/metrics.ts';

// A rerun that meets another delivery's claim with nothing recorded (SPEC's redelivery, issue 10 §5(d)): the
// holder may be at work or dead, and only the lease's end tells. The real scheduled-run handler, the real catalog
// and the real timer against the emulator; a dead delivery is the claim it left in the catalog.

const hourly = { name: 'hourly', expression: 'cron(0 * * * ? *)', keep: { count: 3 } };
const daily = { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 3 } };
const policy = (name: string, schedules = [hourly]) => ({ name, targets: 'volumes' as const, schedules });
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'leases-catalog' },
  policies: [
    policy('retake'),
    policy('missed'),
    policy('live'),
    policy('both', [hourly, daily]),
    policy('manual'),
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-leases-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients();
const catalog = catalogFor(config, clients);
const AT = '2026-12-01T03:00:00.000Z';
// The handler takes only a scheduledAt it could be delivered now: its clock runs from half a minute after it.
const offset = Date.parse(AT) + 30_000 - Date.now();
const clock: Clock = { now: () => new Date(Date.now() + offset) };

/** The real scheduled-run handler; `lines` collects its log. */
function handler(lines: string[] = []) {
  const deps = runDeps({ config, clients, clock, log: consoleLog((line) => lines.push(line)) });
  return createScheduledRunHandler(() => deps, { clients, sink: metricsRecorder().sink });
}

const invoke = (policyName: string, schedule = 'hourly', remainingMs = 900_000, lines: string[] = []) =>
  handler(lines)(
    { policy: policyName, schedule, scheduledAt: AT },
    lambdaContext('scheduled-run', remainingMs),
  );

/** What a delivery that died right after claiming leaves: its claim, nothing recorded. The generation id. */
async function deadClaim(volumeId: string, policyName: string, claimedAt: Date, schedule = 'hourly') {
  const target = { kind: 'volume' as const, id: volumeId };
  const id = generationId(policyName, schedule, AT, target);
  await catalog.claim({
    id,
    policy: policyName,
    schedule,
    target,
    scheduledAt: AT,
    claimedAt: claimedAt.toISOString(),
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  });
  return id;
}

/** A claim made `ms` less than a lease ago: its lease ends `ms` from now. */
const leaseEndingIn = (ms: number) => new Date(clock.now().getTime() - CLAIM_LEASE_MS + ms);

async function snapshotsOf(volumeId: string): Promise<string[]> {
  const { Snapshots } = await ec2.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }),
  );
  return (Snapshots ?? []).map((s) => s.SnapshotId ?? '');
}

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  await ensureSandbox(config, clients);
});

describe("a rerun meeting a dead delivery's unexpired claim", () => {
  it('waits for the lease to end inside its deadline, then takes the claim over and backs the target up', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'retake' } });
    const id = await deadClaim(volumeId, 'retake', leaseEndingIn(3_000));
    const lines: string[] = [];
    const report = (await invoke('retake', 'hourly', 900_000, lines)) as RunReport;

    expect(report.results).toEqual([expect.objectContaining({ generationId: id, outcome: 'created' })]);
    const generation = await catalog.get(id);
    expect(generation?.snapshots.map((s) => s.snapshotId)).toEqual(await snapshotsOf(volumeId));
    expect(generation?.snapshots).toHaveLength(1);
    expect(lines.join('')).toMatch(
      /waiting for claims held by other deliveries.*\n(.*\n)*WARN took over a stale claim/,
    );
  });

  it("records the target missed and fails the invocation when the lease outlasts the run's deadline", async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'missed' } });
    const claimedAt = clock.now();
    const id = await deadClaim(volumeId, 'missed', claimedAt);
    // Two seconds of waiting are left before the reserve the run keeps for a retake.
    const run = invoke('missed', 'hourly', RETAKE_RESERVE_MS + 2_000);

    await expect(run).rejects.toBeInstanceOf(RunFailedError);
    await expect(run).rejects.toThrow(
      new RegExp(
        `1 of 1 targets failed: ${volumeId} \\(missed: another delivery's claim \\(claimed at ${claimedAt.toISOString()}, its lease ends at`,
      ),
    );
    const generation = await catalog.get(id);
    expect(generation).toMatchObject({ state: 'pending', claimedAt: claimedAt.toISOString(), snapshots: [] });
    expect(generation?.notes).toEqual([expect.stringContaining('a delivery of the run missed:')]);
    expect(await snapshotsOf(volumeId)).toEqual([]);
  });
});

describe('a rerun meeting a live claim', () => {
  it('waits for the delivery at work to record it, and never takes it over', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'live' } });
    const id = generationId('live', 'hourly', AT, { kind: 'volume', id: volumeId });
    // The first delivery is slow: its CreateSnapshot takes three seconds to reach EC2.
    const slow = newFaults().use({ actions: ['CreateSnapshot'], before: () => ({ delayMs: 3_000 }) });
    const slowDeps = runDeps({
      config,
      clients: new AwsClients({ middleware: [slow.pluggable()] }),
      clock,
      log: consoleLog(() => {}),
    });
    const first = createScheduledRunHandler(() => slowDeps, { clients, sink: metricsRecorder().sink })(
      { policy: 'live', schedule: 'hourly', scheduledAt: AT },
      lambdaContext(),
    );
    while (!(await catalog.get(id))) await new Promise((resolve) => setTimeout(resolve, 50));
    const claimedAt = (await catalog.get(id))?.claimedAt;

    const duplicate = (await invoke('live')) as RunReport;
    const made = (await first) as RunReport;
    expect(made.results[0]).toMatchObject({ outcome: 'created' });
    expect(duplicate.results[0]).toMatchObject({
      outcome: 'existing',
      snapshotIds: made.results[0]?.snapshotIds,
    });
    expect(await snapshotsOf(volumeId)).toHaveLength(1);
    expect((await catalog.get(id))?.claimedAt).toBe(claimedAt);
  });
});

describe('two schedules firing at once on the same target', () => {
  it("each makes its own generation, and one schedule's dead claim delays only that schedule", async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'both' } });
    const hourlyId = await deadClaim(volumeId, 'both', leaseEndingIn(3_000));
    const dailyId = generationId('both', 'daily', AT, { kind: 'volume', id: volumeId });
    const hourlyLog: string[] = [];
    const dailyLog: string[] = [];
    const [hourlyRun, dailyRun] = (await Promise.all([
      invoke('both', 'hourly', 900_000, hourlyLog),
      invoke('both', 'daily', 900_000, dailyLog),
    ])) as RunReport[];

    expect(hourlyRun?.results).toEqual([
      expect.objectContaining({ generationId: hourlyId, outcome: 'created' }),
    ]);
    expect(dailyRun?.results).toEqual([
      expect.objectContaining({ generationId: dailyId, outcome: 'created' }),
    ]);
    expect(hourlyLog.join('')).toContain('waiting for claims held by other deliveries');
    expect(dailyLog.join('')).not.toContain('waiting for claims');
    const recorded = [
      ...((await catalog.get(hourlyId))?.snapshots ?? []),
      ...((await catalog.get(dailyId))?.snapshots ?? []),
    ];
    expect(recorded.map((s) => s.volumeId)).toEqual([volumeId, volumeId]);
    expect(recorded.map((s) => s.snapshotId).sort()).toEqual((await snapshotsOf(volumeId)).sort());
    expect(new Set(recorded.map((s) => s.snapshotId)).size).toBe(2);
  });
});

describe('snapkeeper run meeting a claim it cannot wait out', () => {
  const run = (...flags: string[]) =>
    cli(['run', '-p', 'manual', '-s', 'hourly', '--at', AT, ...flags, '--config', configFile], clients);

  it('exits 1 naming the missed target, and takes nothing', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'manual' } });
    await deadClaim(volumeId, 'manual', new Date(AT));
    const result = await run('--claim-wait', '0', '--quiet');
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`✗ ${volumeId} +gen-\\S+ +missed, pending +missed: another delivery's claim`),
    );
    expect(await snapshotsOf(volumeId)).toEqual([]);
  });

  it('refuses a --claim-wait that is not a whole number of seconds, with exit 2', async () => {
    const result = await run('--claim-wait', '-5');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--claim-wait.*whole number/);
  });
});
