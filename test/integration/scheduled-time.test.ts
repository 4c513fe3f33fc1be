import { writeFileSync } from 'node:fs';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import type { RunReport } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { createScheduledRunHandler } from '#handlers/scheduled-run.ts';
import { runDeps } from '#wiring';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { metricsRecorder } from '../support/metrics.ts';

// Times a run is asked to take are untrusted: retention counts generations by them, so an invented time
// (far ahead, or off the schedule) would push real backups out. Real handler and CLI against the emulator.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'scheduled-time-catalog' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 3 * * ? *)', keep: { count: 3 } }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-scheduled-time-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients({ maxAttempts: 2 });
const NOW = new Date('2026-12-01T04:30:00Z');

/** The real handler, believing the invocation happens at `now`. */
function handlerAt(now: Date) {
  const deps = runDeps({ config, clients, clock: { now: () => now }, log: consoleLog(() => {}) });
  return createScheduledRunHandler(() => deps, { clients, sink: metricsRecorder().sink });
}

const snapshotCount = async () => (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots?.length ?? 0;
const run = (scheduledAt: string) =>
  handlerAt(NOW)({ policy: 'nightly', schedule: 'nightly', scheduledAt }, lambdaContext());

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile, '--quiet'], clients)).status).toBe(0);
  await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
});

describe('the scheduled-run handler', () => {
  it('refuses a scheduledAt far in the future, and takes nothing', async () => {
    const before = await snapshotCount();
    await expect(run('2027-12-01T03:00:00Z')).rejects.toThrow(
      /scheduledAt 2027-12-01T03:00:00.000Z lies \d+ minutes after the time of the invocation/,
    );
    expect(await snapshotCount()).toBe(before);
  });

  it('refuses a scheduledAt that is not an occurrence of the schedule, naming the nearest', async () => {
    await expect(run('2026-12-01T04:00:00Z')).rejects.toThrow(
      /is not an occurrence of schedule "nightly" .*the nearest are 2026-12-01T03:00:00.000Z \(before\) or 2026-12-02T03:00:00.000Z \(after\)/,
    );
  });

  it('refuses an occurrence older than any retry of the delivery could be', async () => {
    await expect(run('2026-11-20T03:00:00Z')).rejects.toThrow(/minutes old, beyond the 120 minutes/);
  });

  it('takes an occurrence delivered late by retries, inside the window', async () => {
    const report = (await run('2026-12-01T03:00:00Z')) as RunReport;
    expect(report.results.map((r) => r.outcome)).toEqual(['created']);
  });
});

describe('snapkeeper run --at', () => {
  it('refuses an off-schedule time with exit 2, naming the occurrences either side', async () => {
    const before = await snapshotCount();
    const result = await cli(
      ['run', '-p', 'nightly', '-s', 'nightly', '--at', '2026-11-20T12:00:00Z', '--config', configFile],
      clients,
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /--at 2026-11-20T12:00:00.000Z is not an occurrence of schedule "nightly" .*2026-11-20T03:00:00.000Z \(before\) or 2026-11-21T03:00:00.000Z \(after\)/,
    );
    expect(await snapshotCount()).toBe(before);
  });

  it('replays an occurrence of the past, as the demo and replays do', async () => {
    const result = await cli(
      [
        'run',
        '-p',
        'nightly',
        '-s',
        'nightly',
        '--at',
        '2026-11-20T03:00:00Z',
        '--config',
        configFile,
        '--quiet',
      ],
      clients,
    );
    expect(result.status).toBe(0);
  });
});
