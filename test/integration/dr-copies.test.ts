import { writeFileSync } from 'node:fs';
import { DeleteTableCommand, DynamoDBClient, waitUntilTableNotExists } from '@aws-sdk/client-dynamodb';
import { DescribeSnapshotsCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import type { PumpReport } from '#cli/copy-pump.ts';
import { parseConfig } from '#core/config/config.ts';
import type { ReconcileReport } from '#core/lifecycle/reconcile.ts';
import type { Generation } from '#core/model/generation.ts';
import type { RestoreVolumeResult } from '#core/recovery/restore.ts';
import { handler as restoreHandler } from '#handlers/restore-volume.ts';
import { faults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';

// Disaster recovery end to end, on the emulator with the real CLI, handlers' core and adapters: generations of
// us-east-1 are copied to us-west-2 (re-encrypted with a KMS key) and eu-west-1 through the SQS copy queue.
// The fault seam gives each destination Region EBS's concurrent-copy quota, holds copies pending until the test
// lets them finish, and throttles CopySnapshot. us-west-2's quota equals the configured slots; eu-west-1's real
// quota is lower than the slots (someone else copies there too), so EC2 answers ResourceLimitExceeded.

const SLOTS = 3;
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'dr-copies-catalog' },
  manifests: { bucket: 'dr-copies-manifests', region: 'us-west-2' },
  copyQueue: { name: 'dr-copies', maxInFlight: SLOTS },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
      copies: [
        { region: 'us-west-2', kmsKeyId: 'alias/dr', keep: { count: 3 } },
        { region: 'eu-west-1', keep: { count: 2 } },
      ],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-dr-copies-${process.pid}.json`;

const seam = faults({ seed: 7 });
const usWest = seam.copyLimit({ limit: SLOTS, regions: ['us-west-2'] });
const euWest = seam.copyLimit({ limit: SLOTS - 1, regions: ['eu-west-1'] });
// EC2's throttling error on the first four calls: the SDK's retries (2 attempts here) run out on the first two.
seam.fail('CopySnapshot', { name: 'RequestLimitExceeded', times: 4, httpStatusCode: 503 });
const clients = new AwsClients({ maxAttempts: 2, middleware: [seam.pluggable()] });
const ec2 = new EC2Client({ region: 'us-east-1' });
const night = (n: number, hour = 1, minute = 0) =>
  `2026-10-${String(n).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00.000Z`;

const snapkeeper = async (...argv: string[]) => {
  const result = await cli([...argv, '--config', configFile, '--quiet'], clients);
  return { ...result, json: <T>() => JSON.parse(result.stdout) as T };
};

/**
 * The night's scheduled run, then a reconcile pass half an hour later: in AWS (and LocalStack) the run's snapshots
 * are still pending when it ends, and reconcile is what finds them completed and queues their copies. On moto they
 * complete within the run, and the pass finds nothing to advance.
 */
async function nightlyRun(n: number): Promise<void> {
  const run = await snapkeeper('run', '--policy', 'nightly', '--schedule', 'nightly', '--at', night(n));
  expect(run.status, run.stderr).toBe(0);
  const reconciled = await snapkeeper('reconcile', '--at', night(n, 1, 30));
  expect(reconciled.status, reconciled.stderr).toBe(0);
}

/** Works the copy queue as the worker Lambda would, waiting messages coming straight back. */
async function pump(at: string): Promise<PumpReport> {
  const result = await snapkeeper('copy', '--at', at, '--max-delay', '0', '--json');
  expect(result.status, result.stderr).toBe(0);
  return result.json<PumpReport>();
}

async function generationsOf(volumeId: string): Promise<Generation[]> {
  return (await snapkeeper('generations', '--volume', volumeId, '--json')).json<Generation[]>();
}

async function ourSnapshotsIn(region: string): Promise<Set<string>> {
  const client = new EC2Client({ region });
  const response = await client.send(
    new DescribeSnapshotsCommand({
      OwnerIds: ['self'],
      Filters: [{ Name: 'tag:snapkeeper:policy', Values: ['nightly'] }],
    }),
  );
  return new Set((response.Snapshots ?? []).map((s) => s.SnapshotId ?? ''));
}

const volumes: string[] = [];
const pumps: PumpReport[] = [];
let firstPump: PumpReport;
let firstNight: Generation[];

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await snapkeeper('init')).status).toBe(0);
  for (let i = 0; i < 4; i++) {
    volumes.push(await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly', App: `app-${i}` } }));
  }
  // Two nights are taken before any copy moves: the second night's copies must wait for the first's.
  for (const n of [1, 2]) await nightlyRun(n);
  firstPump = await pump(night(2, 2));
  firstNight = await Promise.all(volumes.map(async (v) => (await generationsOf(v)).at(-1) as Generation));
  pumps.push(firstPump);
  // Copies finish when the test says so; each pass of the worker then frees slots and starts more.
  for (let pass = 0; pass < 12; pass++) {
    usWest.releaseAll();
    euWest.releaseAll();
    const report = await pump(night(2, 3, pass));
    pumps.push(report);
    if (report.rounds === 0) break;
  }
}, 120_000);

describe('copies under the per-Region quota', () => {
  it('never has more copies in flight than the slots, nor more than EC2 allows', () => {
    expect(usWest.maxInFlight('us-west-2')).toBe(SLOTS);
    expect(euWest.maxInFlight('eu-west-1')).toBe(SLOTS - 1);
    // The slots kept us-west-2 under its quota without a single refusal; eu-west-1's lower quota was met with
    // ResourceLimitExceeded, which was waited out.
    expect(usWest.limitErrors('us-west-2')).toBe(0);
    expect(euWest.limitErrors('eu-west-1')).toBeGreaterThan(0);
  });

  it('makes the rest wait in the queue at first, for a slot or for an older copy of the same volume', () => {
    const reasons = firstPump.steps.flatMap((s) => (s.outcome === 'wait' ? [s.reason] : []));
    expect(reasons.some((r) => r.includes('copy slots of us-west-2 are in use'))).toBe(true);
    expect(reasons.some((r) => /older generation .* is still copying to/.test(r))).toBe(true);
    for (const generation of firstNight) {
      expect(generation.copies.map((c) => c.state).sort()).not.toContain('failed');
    }
  });

  it('completes every copy of both nights in both Regions: no quota or throttling surfaced as a failure', async () => {
    for (const volumeId of volumes) {
      for (const generation of await generationsOf(volumeId)) {
        expect(generation.copies.map((c) => [c.region, c.state]).sort()).toEqual([
          ['eu-west-1', 'completed'],
          ['us-west-2', 'completed'],
        ]);
        for (const copy of generation.copies) {
          expect(copy.snapshotIds).toHaveLength(1);
          expect(copy.lagSeconds).toBeGreaterThan(0);
          expect(Date.parse(copy.completedAt ?? '')).toBeGreaterThan(Date.parse(copy.queuedAt));
        }
      }
    }
    expect(pumps.flatMap((p) => p.failed)).toEqual([]);
    expect(seam.count('CopySnapshot', 'failed')).toBeGreaterThan(0);
  });

  it('copies each volume in generation order, so each copy has its predecessor in the Region', async () => {
    for (const volumeId of volumes) {
      const [second, first] = await generationsOf(volumeId);
      for (const region of ['us-west-2', 'eu-west-1']) {
        const started = (g: Generation | undefined) =>
          g?.copies.find((c) => c.region === region)?.startedAt ?? '';
        const completed = (g: Generation | undefined) =>
          g?.copies.find((c) => c.region === region)?.completedAt ?? '';
        expect(started(second) >= completed(first), `${volumeId} ${region}`).toBe(true);
      }
    }
  });

  it('tags each copy at creation and re-encrypts the us-west-2 copies with the DR key', async () => {
    const [generation] = await generationsOf(volumes[0] as string);
    const copy = generation?.copies.find((c) => c.region === 'us-west-2');
    const response = await new EC2Client({ region: 'us-west-2' }).send(
      new DescribeSnapshotsCommand({ SnapshotIds: copy?.snapshotIds }),
    );
    const snapshot = response.Snapshots?.[0];
    expect(snapshot?.Encrypted).toBe(true);
    expect(snapshot?.KmsKeyId).toContain('alias/dr');
    const tags = Object.fromEntries((snapshot?.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({
      'snapkeeper:managed': 'true',
      'snapkeeper:generation': generation?.id,
      'snapkeeper:source-snapshot': generation?.snapshots[0]?.snapshotId,
      'snapkeeper:source-volume': volumes[0],
      'snapkeeper:source-region': 'us-east-1',
      App: 'app-0',
    });
  });
});

describe('DR retention, per Region', () => {
  let reconciles: ReconcileReport[];

  beforeAll(async () => {
    reconciles = [];
    reconciles.push((await snapkeeper('reconcile', '--at', night(2, 4), '--json')).json<ReconcileReport>());
    for (const n of [3, 4]) {
      await nightlyRun(n);
      usWest.releaseAll();
      euWest.releaseAll();
      for (let pass = 0; pass < 8; pass++) {
        if ((await pump(night(n, 2, pass))).rounds === 0) break;
        usWest.releaseAll();
        euWest.releaseAll();
      }
      reconciles.push((await snapkeeper('reconcile', '--at', night(n, 4), '--json')).json<ReconcileReport>());
    }
  }, 120_000);

  it('keeps 1 generation in us-east-1, 3 copies in us-west-2 and 2 in eu-west-1, each pruned on its own', async () => {
    for (const volumeId of volumes) {
      const generations = await generationsOf(volumeId);
      expect(generations).toHaveLength(4);
      const live = (region?: string) =>
        generations
          .filter((g) => (region ? g.copies.some((c) => c.region === region && !c.deletedAt) : !g.deletedAt))
          .map((g) => g.scheduledAt);
      expect(live()).toEqual([night(4)]);
      expect(live('us-west-2')).toEqual([night(4), night(3), night(2)]);
      expect(live('eu-west-1')).toEqual([night(4), night(3)]);
    }
    const regionsPruned = reconciles.flatMap((r) => r.pruned.map((p) => p.region ?? 'us-east-1'));
    expect(new Set(regionsPruned)).toEqual(new Set(['us-east-1', 'eu-west-1', 'us-west-2']));
  });

  it('leaves in each Region exactly the snapshots the catalog says are there', async () => {
    const all = await Promise.all(volumes.map(generationsOf));
    const expected = (region: string) =>
      new Set(
        all
          .flat()
          .flatMap((g) =>
            region === 'us-east-1'
              ? g.deletedAt
                ? []
                : g.snapshots.map((s) => s.snapshotId)
              : (g.copies.find((c) => c.region === region && !c.deletedAt)?.snapshotIds ?? []),
          ),
      );
    for (const region of ['us-east-1', 'us-west-2', 'eu-west-1']) {
      expect(await ourSnapshotsIn(region), region).toEqual(expected(region));
    }
  });
});

describe('restore in a DR Region', () => {
  it('restores the newest copy in us-west-2 from the catalog', async () => {
    const [newest] = await generationsOf(volumes[1] as string);
    const result = await snapkeeper(
      'restore',
      '--volume',
      volumes[1] as string,
      '--az',
      'us-west-2a',
      '--to-region',
      'us-west-2',
      '--json',
    );
    expect(result.status, result.stderr).toBe(0);
    const restored = result.json<RestoreVolumeResult>();
    expect(restored).toMatchObject({ region: 'us-west-2', generationId: newest?.id });
    expect(restored.sourceSnapshotId).toBe(
      newest?.copies.find((c) => c.region === 'us-west-2')?.snapshotIds[0],
    );
    const volume = await new EC2Client({ region: 'us-west-2' }).send(
      new DescribeVolumesCommand({ VolumeIds: [restored.volumeId as string] }),
    );
    expect(volume.Volumes?.[0]?.SnapshotId).toBe(restored.sourceSnapshotId);
  });

  it('restores an older point in time from its eu-west-1 copy through the manifests, with the catalog table deleted', async () => {
    const [, third] = await generationsOf(volumes[2] as string);
    const dynamo = new DynamoDBClient({ region: 'us-east-1' });
    await dynamo.send(new DeleteTableCommand({ TableName: 'dr-copies-catalog' }));
    await waitUntilTableNotExists({ client: dynamo, maxWaitTime: 30 }, { TableName: 'dr-copies-catalog' });

    const listed = await snapkeeper(
      'generations',
      '--volume',
      volumes[2] as string,
      '--from-manifests',
      '--json',
    );
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.json<Generation[]>()[1]?.copies).toEqual(third?.copies);

    const result = await snapkeeper(
      'restore',
      '--volume',
      volumes[2] as string,
      '--az',
      'eu-west-1b',
      '--to-region',
      'eu-west-1',
      '--at',
      night(3, 12),
      '--from-manifests',
      '--json',
    );
    expect(result.status, result.stderr).toBe(0);
    const restored = result.json<RestoreVolumeResult>();
    expect(restored.generationId).toBe(third?.id);
    expect(restored.sourceSnapshotId).toBe(
      third?.copies.find((c) => c.region === 'eu-west-1')?.snapshotIds[0],
    );

    // The restore-volume Lambda does the same when asked to read the manifests.
    process.env.SNAPKEEPER_CONFIG = JSON.stringify(config);
    const viaLambda = (await restoreHandler(
      {
        volumeId: volumes[2] as string,
        availabilityZone: 'eu-west-1a',
        region: 'eu-west-1',
        at: night(3, 12),
        fromManifests: true,
      },
      lambdaContext(),
    )) as RestoreVolumeResult;
    expect(viaLambda).toMatchObject({
      generationId: third?.id,
      region: 'eu-west-1',
      sourceSnapshotId: restored.sourceSnapshotId,
    });
  });
});
