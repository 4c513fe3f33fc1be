import {
  CreateSnapshotCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { tagList } from '#adapters/ec2/snapshots.ts';
import { consoleLog } from '#cli/console-log.ts';
import { copyQueueUrl, ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import type { Generation } from '#core/model/generation.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { aVolume } from '../support/fleet.ts';

// Retention and its interlocks on the emulator, each with a test that tries to break it. Real adapters, the
// real catalog, a simulated clock; the fault seam only where the emulator cannot misbehave by itself.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'lifecycle-catalog' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 2 } }],
    },
    {
      name: 'gone',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
      orphans: { keepNewestDays: 3 },
    },
    {
      name: 'offsite',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
      copies: [{ region: 'us-west-2' }],
    },
  ],
});
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients({ maxAttempts: 2 });
const catalog = catalogFor(config, clients);
const day = (n: number, hour = 1) =>
  `2026-10-${String(n).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000Z`;
const at = (iso: string) => ({ now: () => new Date(iso) });

async function night(policy: string, n: number, pass = new AwsClients({ maxAttempts: 2 })) {
  const report = await runSchedule(
    { policy, schedule: 'nightly', scheduledAt: day(n) },
    runDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(n)), log }),
  );
  const reconciled = await reconcile(
    reconcileDeps({ copyQueueUrl: queueUrl, config, clients: pass, clock: at(day(n, 2)), log }),
  );
  return { report, reconciled };
}

async function snapshotExists(snapshotId: string): Promise<boolean> {
  const found = await ec2.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }] }),
  );
  return (found.Snapshots ?? []).length > 0;
}

const lineageOf = (volumeId: string) => catalog.byVolume(volumeId);

let queueUrl: string;

beforeAll(async () => {
  await ensureSandbox(config, clients);
  queueUrl = await copyQueueUrl(clients.sqs(config.region), config.copyQueue.name);
});

describe('retention by count', () => {
  let volumeId: string;
  let history: Generation[];

  beforeAll(async () => {
    volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    for (let n = 1; n <= 4; n++) await night('nightly', n);
    history = await lineageOf(volumeId);
  });

  it('keeps exactly the newest two generations and deletes the snapshots of the others', async () => {
    expect(history.map((g) => [g.scheduledAt, Boolean(g.deletedAt)])).toEqual([
      [day(4), false],
      [day(3), false],
      [day(2), true],
      [day(1), true],
    ]);
    for (const g of history)
      expect(await snapshotExists(g.snapshots[0]?.snapshotId ?? '')).toBe(!g.deletedAt);
  });

  it('records when each pruned generation expired: when the second newer one was taken', () => {
    expect(history.find((g) => g.scheduledAt === day(1))?.expiresAt).toBe(day(3));
    expect(history.find((g) => g.scheduledAt === day(2))?.expiresAt).toBe(day(4));
    expect(history.find((g) => g.scheduledAt === day(3))?.expiresAt).toBeUndefined();
  });

  it("never deletes a user's snapshot tagged to look like ours but absent from the catalog", async () => {
    const doomed = history.find((g) => g.scheduledAt === day(3)) as Generation;
    const impostor = await ec2.send(
      new CreateSnapshotCommand({
        VolumeId: volumeId,
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: tagList({
              'snapkeeper:managed': 'true',
              'snapkeeper:generation': doomed.id,
              'snapkeeper:policy': 'nightly',
            }),
          },
        ],
      }),
    );
    await night('nightly', 5); // pushes day 3 out and prunes it
    expect((await catalog.get(doomed.id))?.deletedAt).toBeDefined();
    expect(await snapshotExists(impostor.SnapshotId ?? '')).toBe(true);
  });
});

describe('a snapshot deleted by hand', () => {
  it('is noted on its generation when the generation is pruned, and nothing crashes', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    await night('nightly', 10);
    const [first] = await lineageOf(volumeId);
    await ec2.send(new DeleteSnapshotCommand({ SnapshotId: first?.snapshots[0]?.snapshotId }));
    await night('nightly', 11);
    const { reconciled } = await night('nightly', 12);
    expect(reconciled.pruned.map((p) => p.generationId)).toContain(first?.id);
    const pruned = await catalog.get(first?.id ?? '');
    expect(pruned?.deletedAt).toBeDefined();
    expect(pruned?.notes).toEqual([
      `snapshot ${first?.snapshots[0]?.snapshotId} was already gone (deleted outside snapkeeper)`,
    ]);
  });
});

describe('the DR interlock', () => {
  it('holds a generation whose copy has not completed, however expired it is', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'offsite' } });
    for (let n = 1; n <= 3; n++) await night('offsite', n);
    const { reconciled } = await night('offsite', 4);
    const history = await lineageOf(volumeId);
    expect(history.every((g) => !g.deletedAt)).toBe(true);
    expect(history.filter((g) => g.expiresAt).length).toBe(3);
    expect(reconciled.held.map((h) => h.reason)).toContain('its copy to us-west-2 has not completed');
    const held = history.find((g) => g.scheduledAt === day(1));
    expect(held?.heldBecause).toBe('its copy to us-west-2 has not completed');
  });
});

describe('orphans', () => {
  it('keeps the newest generation of a deleted volume until the orphan rule lets it go', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'gone' } });
    await night('gone', 1);
    await night('gone', 2);
    const [newest, older] = await lineageOf(volumeId);
    expect(older?.deletedAt).toBeDefined();
    // The newest always stays while the volume exists, even expired by hand.
    await catalog.update({ ...(newest as Generation), expiresAt: day(2, 3) }, ['expiresAt']);
    expect(
      (await reconcile(reconcileDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(9)), log })))
        .held,
    ).toContainEqual({
      generationId: newest?.id,
      reason: `it is the newest completed generation of ${volumeId}`,
    });

    await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    const early = await reconcile(
      reconcileDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(4)), log }),
    );
    expect(early.held.find((h) => h.generationId === newest?.id)?.reason).toMatch(
      /orphan rule keeps its newest generation for 3 days/,
    );
    const late = await reconcile(
      reconcileDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(6)), log }),
    );
    expect(late.pruned.map((p) => p.generationId)).toContain(newest?.id);
  });
});

describe('an interrupted prune', () => {
  it('resumes on the next pass without leaking or deleting anything twice', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'gone' } });
    await night('gone', 20);
    // The prune of day 20's generation meets an EC2 failure on its delete; the catalog says it began.
    const faults = newFaults().fail('DeleteSnapshot', { name: 'InternalError', times: 1 });
    const interrupted = await night(
      'gone',
      21,
      new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }),
    );
    const [, first] = await lineageOf(volumeId);
    expect(interrupted.reconciled.held.map((h) => h.generationId)).toContain(first?.id);
    expect(first).toMatchObject({ pruneStartedAt: day(21, 2) });
    expect(first?.deletedAt).toBeUndefined();

    const watch = newFaults();
    await reconcile(
      reconcileDeps({
        copyQueueUrl: queueUrl,
        config,
        clients: new AwsClients({ middleware: [watch.pluggable()] }),
        clock: at(day(21, 3)),
        log,
      }),
    );
    expect((await catalog.get(first?.id ?? ''))?.deletedAt).toBe(day(21, 3));
    expect(await snapshotExists(first?.snapshots[0]?.snapshotId ?? '')).toBe(false);
    const deletes = watch.calls.filter((c) => c.action === 'DeleteSnapshot').map((c) => c.input.SnapshotId);
    expect(deletes).toEqual([first?.snapshots[0]?.snapshotId]);
  });
});

describe("a user's AMI registered from a snapkeeper snapshot", () => {
  /** A generation of a new `gone` volume on night `n`, and an AMI a user registered from its snapshot. */
  async function usedByAnAmi(n: number) {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'gone' } });
    await night('gone', n);
    const [generation] = await lineageOf(volumeId);
    const snapshotId = generation?.snapshots[0]?.snapshotId ?? '';
    const { ImageId: imageId = '' } = await ec2.send(
      new RegisterImageCommand({
        Name: `restored-by-hand-${n}`,
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId } }],
      }),
    );
    return { generation: generation as Generation, snapshotId, imageId };
  }

  it('holds the generation, naming the AMI, on every pass until the AMI is deregistered, then prunes it', async () => {
    const { generation, snapshotId, imageId } = await usedByAnAmi(24);
    const held = { generationId: generation.id, reason: expect.stringContaining(`in use by AMI ${imageId}`) };

    const pushedOut = await night('gone', 25);
    expect(pushedOut.reconciled.held).toContainEqual(held);
    const later = await reconcile(
      reconcileDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(25, 5)), log }),
    );
    expect(later.held).toContainEqual(held);
    expect(await snapshotExists(snapshotId)).toBe(true);
    expect((await catalog.get(generation.id))?.heldBecause).toContain(imageId);

    await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    const freed = await reconcile(
      reconcileDeps({ copyQueueUrl: queueUrl, config, clients, clock: at(day(25, 6)), log }),
    );
    expect(freed.pruned.map((p) => p.generationId)).toContain(generation.id);
    expect(await snapshotExists(snapshotId)).toBe(false);
  });

  it("holds it too when the AMI escapes the look-up: EC2's InvalidSnapshot.InUse is mapped, not a failed pass", async () => {
    const { generation, imageId } = await usedByAnAmi(27);
    // The pass's look-up sees no AMI (as if registered just after it); the delete then meets EC2's refusal.
    let lookups = 0;
    const faults = newFaults().transform('DescribeImages', (output, input) =>
      JSON.stringify(input).includes('block-device-mapping.snapshot-id') && lookups++ === 0
        ? { ...output, Images: [] }
        : output,
    );
    const raced = await night(
      'gone',
      28,
      new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }),
    );
    expect(raced.reconciled.held).toContainEqual({
      generationId: generation.id,
      reason: expect.stringContaining(`in use by AMI ${imageId}`),
    });
    expect(faults.calls.filter((c) => c.action === 'DeleteSnapshot').map((c) => c.error)).toContain(
      'InvalidSnapshot.InUse',
    );
  });
});
