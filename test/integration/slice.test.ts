import { DescribeSnapshotsCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { tagsOf } from '#adapters/ec2/snapshots.ts';
import type { RunReport } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import type { Generation } from '#core/model/generation.ts';
import type { RestoreVolumeResult } from '#core/recovery/restore.ts';
import { handler as restoreHandler } from '#handlers/restore-volume.ts';
import { handler as runHandler } from '#handlers/scheduled-run.ts';
import { cli, cliProcess } from '../support/cli.ts';
import { anInstance, aVolume, type SeededInstance } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { latestOccurrence } from '../support/occurrence.ts';

// The first slice end to end on the emulator: tag a fleet, run the real scheduled-run handler, check the
// snapshots, their tags and the catalog, run again, restore with the real restore-volume handler and the CLI.

const HOURLY = 'cron(0 * * * ? *)';
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'slice-catalog' },
  policies: [
    {
      name: 'daily',
      targets: 'instances',
      // Hourly: the real handler takes only an occurrence recent enough for a delivery's retries.
      schedules: [{ name: 'daily', expression: HOURLY, keep: { count: 7 } }],
      tags: { Backup: '$(policy)-$(schedule)', Host: '$(instance-id)' },
    },
    {
      name: 'volumes',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(30 2 * * ? *)', keep: { count: 7 } }],
      tags: { Backup: '$(policy)-$(schedule)', Source: '$(volume-id)' },
    },
  ],
});
process.env.SNAPKEEPER_CONFIG = JSON.stringify(config);
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-slice-${process.pid}.json`;

const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients({ maxAttempts: 2 });
let web: SeededInstance;
let other: SeededInstance;
let standalone: string;
let untagged: string;

async function snapshotsOf(generationId: string) {
  const response = await ec2.send(
    new DescribeSnapshotsCommand({
      Filters: [{ Name: 'tag:snapkeeper:generation', Values: [generationId] }],
    }),
  );
  return response.Snapshots ?? [];
}

beforeAll(async () => {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile], clients)).status).toBe(0);
  web = await anInstance(ec2, {
    tags: { 'snapkeeper:policy': 'daily', Name: 'web-1' },
    dataVolumes: 1,
    volumeTags: [{ App: 'web', CostCenter: '42' }],
  });
  other = await anInstance(ec2, {
    tags: { 'snapkeeper:policy': 'daily-long', Name: 'not-ours' },
    dataVolumes: 0,
  });
  standalone = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'weekly, volumes', Team: 'data' } });
  untagged = await aVolume(ec2, { tags: { Team: 'data' } });
});

describe('a scheduled run through the real handler', () => {
  // The real handler believes only a time its schedule fired at lately: the latest hour before now.
  const scheduledAt = latestOccurrence(HOURLY);
  const event = { policy: 'daily', schedule: 'daily', scheduledAt };
  let first: RunReport;

  beforeAll(async () => {
    first = (await runHandler(event, lambdaContext())) as RunReport;
  });

  it('snapshots every volume of each tagged instance as one set, and nothing else', async () => {
    expect(first.results.map((r) => r.targetId)).toEqual([web.instanceId]);
    const [result] = first.results;
    expect(result?.outcome).toBe('created');
    const snapshots = await snapshotsOf(result?.generationId ?? '');
    expect(snapshots.map((s) => s.VolumeId).sort()).toEqual([web.bootVolumeId, ...web.dataVolumeIds].sort());
    expect(other.instanceId).not.toBe(web.instanceId);
  });

  it('tags each snapshot at creation with the contract tags and the expanded policy tags', async () => {
    const [result] = first.results;
    for (const snapshot of await snapshotsOf(result?.generationId ?? '')) {
      expect(tagsOf(snapshot.Tags)).toMatchObject({
        'snapkeeper:managed': 'true',
        'snapkeeper:policy': 'daily',
        'snapkeeper:schedule': 'daily',
        'snapkeeper:generation': result?.generationId,
        'snapkeeper:source-instance': web.instanceId,
        Backup: 'daily-daily',
        Host: web.instanceId,
      });
    }
  });

  it('records the generation in the catalog with its snapshots and the source volume tags', async () => {
    const listed = await cli(
      ['generations', '--instance', web.instanceId, '--json', '--config', configFile],
      clients,
    );
    expect(listed.status).toBe(0);
    const [generation] = JSON.parse(listed.stdout) as Generation[];
    expect(generation).toMatchObject({
      id: first.results[0]?.generationId,
      policy: 'daily',
      schedule: 'daily',
      target: { kind: 'instance', id: web.instanceId },
      scheduledAt,
      consistency: 'crash',
    });
    expect(generation?.snapshots).toHaveLength(2);
    const data = generation?.snapshots.find((s) => s.volumeId === web.dataVolumeIds[0]);
    expect(data).toMatchObject({
      region: 'us-east-1',
      sizeGiB: 20,
      volumeType: 'gp3',
      deviceName: '/dev/sdf',
    });
    expect(data?.volumeTags).toEqual({ App: 'web', CostCenter: '42' });
  });

  it('makes no second generation when the same run is delivered again', async () => {
    const again = (await runHandler(event, lambdaContext())) as RunReport;
    expect(again.results.map((r) => r.outcome)).toEqual(['existing']);
    expect(again.results[0]?.generationId).toBe(first.results[0]?.generationId);
    expect(await snapshotsOf(first.results[0]?.generationId ?? '')).toHaveLength(2);
  });

  it('rejects a bad event naming the field, and takes nothing', async () => {
    const before = (await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots?.length;
    await expect(runHandler({ ...event, scheduledAt: 'tomorrow' }, lambdaContext())).rejects.toThrow(
      /scheduledAt/,
    );
    await expect(runHandler({ ...event, policy: 'nope' }, lambdaContext())).rejects.toThrow(
      /no policy named "nope"/,
    );
    expect((await ec2.send(new DescribeSnapshotsCommand({}))).Snapshots?.length).toBe(before);
  });
});

describe('a volume policy', () => {
  it('snapshots only volumes whose policy list names it, carrying their tags', async () => {
    const run = await cli(
      [
        'run',
        '--policy',
        'volumes',
        '--schedule',
        'nightly',
        '--at',
        '2026-11-20T02:30:00Z',
        '--json',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as RunReport;
    expect(report.results.map((r) => r.targetId)).toEqual([standalone]);
    const [snapshot] = await snapshotsOf(report.results[0]?.generationId ?? '');
    expect(tagsOf(snapshot?.Tags)).toMatchObject({
      Team: 'data',
      Source: standalone,
      'snapkeeper:source-volume': standalone,
      // Ours win over the volume's own selection tag.
      'snapkeeper:policy': 'volumes',
    });
    expect(untagged).not.toBe(standalone);
  });
});

describe('restore', () => {
  beforeAll(async () => {
    // Instance sets come back from CreateSnapshots as pending; reconcile moves them on.
    expect((await cli(['reconcile', '--config', configFile], clients)).status).toBe(0);
  });

  it('restores the newest completed generation into the requested zone, through the Lambda', async () => {
    const dataVolume = web.dataVolumeIds[0] ?? '';
    // The handler ran on the real clock, so the generation was taken just now: no `at` means now.
    const result = (await restoreHandler(
      { volumeId: dataVolume, availabilityZone: 'us-east-1c' },
      lambdaContext('snapkeeper-restore'),
    )) as RestoreVolumeResult;
    const [snapshot] = (await snapshotsOf(result.generationId)).filter((s) => s.VolumeId === dataVolume);
    expect(result).toMatchObject({
      region: 'us-east-1',
      availabilityZone: 'us-east-1c',
      sourceSnapshotId: snapshot?.SnapshotId,
    });
    const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [result.volumeId ?? ''] })))
      .Volumes?.[0];
    expect(volume).toMatchObject({
      State: 'available',
      AvailabilityZone: 'us-east-1c',
      SnapshotId: snapshot?.SnapshotId,
      Size: 20,
    });
    expect(tagsOf(volume?.Tags)).toEqual({
      App: 'web',
      CostCenter: '42',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': result.generationId,
      'snapkeeper:source-volume': dataVolume,
    });
  });

  it('refuses a malformed request at each boundary, naming the field, and creates nothing', async () => {
    const volumesBefore = (await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length;
    const flags = await cli(
      [
        'restore',
        '--volume',
        'volume-1',
        '--az',
        'us-east-1a',
        '--to-region',
        'us-est-1',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(flags.status).toBe(2);
    expect(flags.stderr).toMatch(
      /bad restore-volume request: --volume: must be a volume id[\s\S]*--to-region: [\s\S]*did you mean "us-east-1"/,
    );
    expect(flags.stderr).not.toContain('volumeId');
    await expect(
      restoreHandler(
        { volumeId: 'volume-1', availabilityZone: 'us-east-1a' },
        lambdaContext('snapkeeper-restore'),
      ),
    ).rejects.toThrow(/volumeId: must be a volume id/);
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length).toBe(volumesBefore);
  });

  it('finds nothing before the first generation, and says how to list them', async () => {
    const result = await cli(
      [
        'restore',
        '--volume',
        standalone,
        '--az',
        'us-east-1a',
        '--at',
        '2026-11-19T00:00:00Z',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /no completed generation .* at or before 2026-11-19T00:00:00.000Z; list them with/,
    );
  });

  it('restores through the CLI with --json, and a dry run creates nothing', async () => {
    const volumesBefore = (await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length;
    const dry = await cli(
      [
        'restore',
        '--volume',
        standalone,
        '--az',
        'us-east-1b',
        '--dry-run',
        '--json',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(dry.status).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      volumeId: null,
      dryRun: true,
      availabilityZone: 'us-east-1b',
    });
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.length).toBe(volumesBefore);

    const real = await cli(
      ['restore', '--volume', standalone, '--az', 'us-east-1b', '--json', '--config', configFile],
      clients,
    );
    expect(real.status).toBe(0);
    const restored = JSON.parse(real.stdout) as RestoreVolumeResult;
    expect(Object.keys(restored).sort()).toEqual(
      [
        'availabilityZone',
        'availableAt',
        'dryRun',
        'generationId',
        'initialization',
        'region',
        'requestedAt',
        'sourceSnapshotId',
        'volume',
        'volumeId',
      ].sort(),
    );
    expect(restored.volumeId).toMatch(/^vol-/);
    // moto does not implement DescribeVolumeStatus: the runbook says so rather than guessing.
    expect(restored.initialization).toMatchObject({ state: 'not-reported' });
    expect(restored.availableAt).not.toBeNull();
  });
});

describe('the snapkeeper command as a process', () => {
  it('exits 2 naming the key when the config is bad, before touching AWS', async () => {
    const bad = `${configFile}.bad.json`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, JSON.stringify({ ...config, policies: [{ ...config.policies[0], retention: 3 }] }));
    const result = await cliProcess(['generations', '--config', bad]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('policies[0].retention: unknown key "retention"');
  });

  it('lists generations as JSON on stdout and nothing else', async () => {
    const result = await cliProcess(['generations', '--policy', 'daily', '--json', '--config', configFile]);
    expect(result.status).toBe(0);
    const generations = JSON.parse(result.stdout) as Generation[];
    expect(generations.map((g) => g.target.id)).toEqual([web.instanceId]);
  });

  it('exits 2 for a bad flag', async () => {
    expect((await cliProcess(['run', '--policy', 'daily', '--config', configFile])).status).toBe(2);
    expect(
      (await cliProcess(['restore', '--volume', standalone, '--az', 'mars-1a', '--config', configFile]))
        .status,
    ).toBe(2);
  });
});
