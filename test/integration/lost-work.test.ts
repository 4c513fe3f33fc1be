import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { OutcomeSupersededError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { aVolume } from '../support/fleet.ts';

// Work that must not be lost when the network loses it: a claim the catalog refuses, create responses that never
// arrive. Real adapters and the real catalog, the losses through the fault seam.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'lost-work-catalog' },
  policies: [
    {
      name: 'fleet',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 3 } }],
    },
    {
      name: 'claims',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 3 } }],
    },
  ],
});
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('a claim whose DynamoDB write fails', () => {
  it('fails that target alone: the report lists every target and the others are backed up', async () => {
    const volumes = [];
    for (let i = 0; i < 4; i++) volumes.push(await aVolume(ec2, { tags: { 'snapkeeper:policy': 'claims' } }));
    const refused = volumes[1] ?? '';
    // Every attempt at this target's claim (a transaction that puts its record and pointers) is refused.
    const faults = newFaults().fail('TransactWriteItems', {
      name: 'InternalServerError',
      httpStatusCode: 500,
      fault: 'server',
      when: (input) => JSON.stringify(input).includes(`TARGET#${refused}`),
    });
    const clients = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 2 });
    const request = { policy: 'claims', schedule: 'nightly', scheduledAt: '2026-11-24T01:00:00.000Z' };
    const report = await runSchedule(request, { ...runDeps({ config, clients, log }), concurrency: 1 });

    expect(report.results.map((r) => r.targetId).sort()).toEqual([...volumes].sort());
    const failed = report.results.filter((r) => r.outcome === 'failed');
    expect(failed).toEqual([
      expect.objectContaining({
        targetId: refused,
        failure: expect.stringContaining('could not be claimed'),
      }),
    ]);
    for (const result of report.results.filter((r) => r.targetId !== refused)) {
      expect(result.outcome).toBe('created');
      expect((await catalog.get(result.generationId))?.snapshots).toHaveLength(1);
    }
    expect(faults.count('TransactWriteItems', 'failed')).toBeGreaterThanOrEqual(2);
  });
});

describe('a late outcome in the catalog', () => {
  const snapshot = (n: number) => ({
    volumeId: `vol-late${n}`,
    snapshotId: `snap-late${n}`,
    region: 'us-east-1',
    state: 'completed' as const,
    consistency: 'crash' as const,
    volumeTags: {},
  });
  const claim: Generation = {
    id: 'gen-late-writer',
    policy: 'claims',
    schedule: 'nightly',
    target: { kind: 'group', id: 'group:db', members: ['i-late1', 'i-late2'] },
    scheduledAt: '2026-11-25T01:00:00.000Z',
    claimedAt: '2026-11-25T01:00:01.000Z',
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  };

  it('never replaces a completed record with part of its set, nor writes over a claim taken since', async () => {
    await catalog.claim(claim);
    // Two writers read the claim; the first records the whole group.
    const late = structuredClone(claim);
    const taken = structuredClone(claim);
    await catalog.recordOutcome({
      ...structuredClone(claim),
      state: 'completed',
      snapshots: [1, 2, 3, 4].map(snapshot),
    });

    await expect(
      catalog.recordOutcome({ ...late, state: 'completed', snapshots: [1, 2].map(snapshot) }),
    ).rejects.toBeInstanceOf(OutcomeSupersededError);
    expect((await catalog.get(claim.id))?.snapshots.map((s) => s.snapshotId)).toEqual(
      [1, 2, 3, 4].map((n) => `snap-late${n}`),
    );
    await expect(
      catalog.recordOutcome({
        ...taken,
        claimedAt: '2026-11-25T01:20:00.000Z',
        snapshots: [5].map(snapshot),
      }),
    ).rejects.toBeInstanceOf(OutcomeSupersededError);
  });
});

describe('create responses lost on the way back, at the default SDK retries', () => {
  it('records exactly one snapshot per volume and leaves no tagged snapshot unrecorded', async () => {
    const volumes: string[] = [];
    for (let i = 0; i < 50; i++) volumes.push(await aVolume(ec2, { tags: { 'snapkeeper:policy': 'fleet' } }));
    // EC2 makes the snapshot; every fifth answer never arrives.
    let calls = 0;
    const faults = newFaults().use({
      actions: ['CreateSnapshot'],
      after: (output) => {
        calls += 1;
        if (calls % 5 === 0) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return output;
      },
    });
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const request = { policy: 'fleet', schedule: 'nightly', scheduledAt: '2026-11-26T01:00:00.000Z' };
    const report = await runSchedule(request, runDeps({ config, clients, log }));

    expect(report.results.filter((r) => r.outcome !== 'created')).toEqual([]);
    expect(report.results).toHaveLength(50);
    const made = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: volumes }] }),
    );
    expect(made.Snapshots).toHaveLength(50);
    const recorded = new Set(report.results.flatMap((r) => r.snapshotIds));
    expect(recorded.size).toBe(50);
    for (const snapshot of made.Snapshots ?? []) expect(recorded.has(snapshot.SnapshotId ?? '')).toBe(true);
    // One create call per volume: a lost answer is found, never sent again.
    expect(calls).toBe(50);

    // And reconcile's sweep, which would record or remove any left behind, finds none to act on.
    const pass = await reconcile(reconcileDeps({ config, clients: new AwsClients(), log }));
    expect(pass.orphans).toEqual({ recorded: [], deleted: [], held: [] });
    const tagged = await ec2.send(
      new DescribeSnapshotsCommand({
        Filters: [{ Name: `tag:${TAG.generation}`, Values: report.results.map((r) => r.generationId) }],
      }),
    );
    expect((tagged.Snapshots ?? []).map((s) => s.SnapshotId).sort()).toEqual([...recorded].sort());
    for (const volumeId of volumes) {
      const [generation] = await catalog.byVolume(volumeId);
      expect(generation?.snapshots.map((s) => s.volumeId)).toEqual([volumeId]);
    }
  }, 120_000);
});
