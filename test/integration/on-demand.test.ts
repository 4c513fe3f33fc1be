import { writeFileSync } from 'node:fs';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import type { OnDemandReport } from '#core/backup/on-demand.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { InputError } from '#core/model/errors.ts';
import { createBackupHandler } from '#handlers/backup.ts';
import { backupDeps, catalogFor, reconcileDeps, runDeps } from '#wiring';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { metricsRecorder } from '../support/metrics.ts';

// On-demand backups through the real backup handler and CLI against the emulator: a lineage of their own that a
// burst of them cannot use to push scheduled generations out, one backup per request id, and bad input refused.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'on-demand-catalog' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 3 * * ? *)', keep: { count: 1 } }],
      onDemand: { keep: { days: 2 } },
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-on-demand-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients({ maxAttempts: 2 });
const log = consoleLog(() => {});
const NOW = new Date('2026-12-01T04:30:00Z');
const clockAt = (now: Date) => ({ now: () => now });
let volumeId = '';

const handler = createBackupHandler(() => backupDeps({ config, clients, clock: clockAt(NOW), log }), {
  clients,
  sink: metricsRecorder().sink,
});
const backup = (event: Record<string, unknown>) =>
  handler(event as never, lambdaContext()) as Promise<OnDemandReport>;
const snapshotCount = async () => (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots?.length ?? 0;
const pass = (now: Date) => reconcile(reconcileDeps({ config, clients, clock: clockAt(now), log }));

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile, '--quiet'], clients)).status).toBe(0);
  volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
});

describe('the backup handler', () => {
  it('takes one backup per request id, however often the request is delivered', async () => {
    const before = await snapshotCount();
    const first = await backup({ policy: 'nightly', requestId: 'ticket-1' });
    const again = await backup({ policy: 'nightly', requestId: 'ticket-1' });
    expect(first.results.map((r) => r.outcome)).toEqual(['created']);
    expect(again.results).toEqual([
      expect.objectContaining({ outcome: 'existing', generationId: first.results[0]?.generationId }),
    ]);
    expect(await snapshotCount()).toBe(before + 1);
  });

  it('never lets a burst of on-demand backups push the scheduled generation out of a keep count of 1', async () => {
    const scheduled = await runSchedule(
      { policy: 'nightly', schedule: 'nightly', scheduledAt: '2026-12-01T03:00:00.000Z' },
      runDeps({ config, clients, clock: clockAt(NOW), log }),
    );
    for (const requestId of ['burst-1', 'burst-2', 'burst-3']) {
      await backup({ policy: 'nightly', targetId: volumeId, requestId });
    }
    await pass(new Date(NOW.getTime() + 60 * 60_000));
    const kept = await catalogFor(config, clients).get(scheduled.results[0]?.generationId ?? '');
    expect(kept).toMatchObject({ state: 'completed' });
    expect(kept?.expiresAt).toBeUndefined();
    expect(kept?.deletedAt).toBeUndefined();
  });

  it('refuses an event with a key it does not know, naming it', async () => {
    await expect(backup({ policy: 'nightly', schedule: 'nightly' })).rejects.toBeInstanceOf(InputError);
  });
});

describe('snapkeeper backup', () => {
  const run = (...args: string[]) => cli(['backup', ...args, '--config', configFile, '--quiet'], clients);

  it('backs up the policy now, in the on-demand lineage', async () => {
    const result = await run('-p', 'nightly', '--target', volumeId, '--json');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as OnDemandReport;
    expect(report).toMatchObject({
      policy: 'nightly',
      schedule: 'on-demand',
      results: [{ targetId: volumeId, outcome: 'created' }],
    });
    // As EC2 answered the create: AWS (and LocalStack) says pending, which the next reconcile pass completes.
    const generationId = report.results[0]?.generationId ?? '';
    await pass(new Date(NOW.getTime() + 60 * 60_000));
    expect(await catalogFor(config, clients).get(generationId)).toMatchObject({ state: 'completed' });
  });

  it('exits 2 naming the valid policies for an unknown policy', async () => {
    const result = await run('-p', 'hourly');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no policy named "hourly"; valid policies: nightly/);
  });

  it('exits 2 for a target that does not exist, and takes nothing', async () => {
    const before = await snapshotCount();
    const result = await run('-p', 'nightly', '--target', 'vol-0123456789abcdef0');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no volume "vol-0123456789abcdef0" found in the Region/);
    expect(await snapshotCount()).toBe(before);
  });

  it('exits 2 for a volume not tagged for the policy, naming the tag to add', async () => {
    const stranger = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'weekly' } });
    const result = await run('-p', 'nightly', '--target', stranger);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      `volume "${stranger}" is not tagged for policy "nightly" (snapkeeper:policy=weekly): add "nightly" to its snapkeeper:policy tag`,
    );
  });
});
