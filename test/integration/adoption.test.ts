import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { type Generation, generationId, type Target } from '#core/model/generation.ts';
import type { Clock } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { anInstance, aVolume } from '../support/fleet.ts';

// Forged tags, on the emulator: a principal allowed only to tag (CreateTags) puts `snapkeeper:managed=true` and a
// generation's id (ids derive from public fields) on a snapshot that is not the generation's: one of another
// volume, or one of the target's own volume taken before the claim. Whatever a generation records, retention
// deletes later, so none of the three adoption paths may record such a snapshot.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'adoption-catalog' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 3 } }],
    },
    {
      name: 'imaging',
      targets: 'instances',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 3 }, ami: true }],
    },
  ],
});
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());
const MINUTE = 60_000;

/** A clock `offsetMs` ahead of the real one: the emulator stamps snapshots by the real clock. */
const ahead = (offsetMs: number): Clock => ({ now: () => new Date(Date.now() + offsetMs) });

async function snapshotOf(volumeId: string): Promise<string> {
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  return SnapshotId ?? '';
}

/** What the attacker does: tag a snapshot as ours and as the generation's. */
async function forge(snapshotId: string, generation: string): Promise<void> {
  await ec2.send(
    new CreateTagsCommand({
      Resources: [snapshotId],
      Tags: [
        { Key: TAG.managed, Value: 'true' },
        { Key: TAG.generation, Value: generation },
      ],
    }),
  );
}

/** A snapshot of another volume and one of `volumeId` taken now, both forged with the generation's tags. */
async function forgeBoth(volumeId: string, generation: string) {
  const foreign = await snapshotOf(await aVolume(ec2));
  const early = await snapshotOf(volumeId);
  await forge(foreign, generation);
  await forge(early, generation);
  return [foreign, early];
}

/** What a run that died right after its claim leaves: a pending claim with nothing recorded. Its id. */
async function deadClaim(target: Target, scheduledAt: string, claimedAt: string): Promise<string> {
  const id = generationId('nightly', 'nightly', scheduledAt, target);
  await catalog.claim({
    id,
    policy: 'nightly',
    schedule: 'nightly',
    target,
    scheduledAt,
    claimedAt,
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  });
  return id;
}

const recordedIds = (generation: Generation | undefined) =>
  generation?.snapshots.map((s) => s.snapshotId) ?? [];

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('adoption against forged tags', () => {
  it('a redelivery after a failed create adopts no forged snapshot and takes the volume itself', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    const scheduledAt = '2026-11-20T01:00:00.000Z';
    const id = generationId('nightly', 'nightly', scheduledAt, { kind: 'volume', id: volumeId });
    const forged = await forgeBoth(volumeId, id);
    // The claim comes ten minutes after the early snapshot was taken.
    const clock = ahead(10 * MINUTE);
    const refused = newFaults().fail('CreateSnapshot', {
      name: 'InvalidParameterValue',
      httpStatusCode: 400,
    });
    const request = { policy: 'nightly', schedule: 'nightly', scheduledAt };
    const failing = new AwsClients({ middleware: [refused.pluggable()], maxAttempts: 1 });
    const first = await runSchedule(request, runDeps({ config, clients: failing, clock, log }));
    expect(first.results[0]).toMatchObject({ generationId: id, outcome: 'failed' });

    const retry = await runSchedule(request, runDeps({ config, clients: new AwsClients(), clock, log }));
    // Its state is what EC2 answered the create (pending in AWS and LocalStack, completed on moto).
    expect(retry.results[0]).toMatchObject({ outcome: 'created' });
    const generation = await catalog.get(id);
    expect(recordedIds(generation)).toHaveLength(1);
    expect(recordedIds(generation)).not.toContain(forged[0]);
    expect(recordedIds(generation)).not.toContain(forged[1]);
    expect(generation?.notes).toEqual(
      expect.arrayContaining(forged.map((s) => expect.stringContaining(`not adopted: ${s}`))),
    );
  });

  it('reconcile adopts no forged snapshot for a dead claim after its lease', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    const target: Target = { kind: 'volume', id: volumeId };
    const id = generationId('nightly', 'nightly', '2026-11-21T01:00:00.000Z', target);
    const forged = await forgeBoth(volumeId, id);
    await deadClaim(target, '2026-11-21T01:00:00.000Z', new Date(Date.now() + 10 * MINUTE).toISOString());

    const clock = ahead(10 * MINUTE + CLAIM_LEASE_MS + MINUTE);
    const pass = await reconcile(reconcileDeps({ config, clients: new AwsClients(), clock, log }));
    expect(pass.failed).toContainEqual({ generationId: id, failure: expect.stringContaining('stopped') });
    const generation = await catalog.get(id);
    expect(generation).toMatchObject({ state: 'failed', snapshots: [] });
    expect(generation?.notes).toEqual(forged.map((s) => expect.stringContaining(`not adopted: ${s}`)));
  });

  it("reconcile holds a snapshot of the target's own volume, taken inside the claim's window, without the generation's mark", async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly' } });
    const target: Target = { kind: 'volume', id: volumeId };
    // A genuine run of another night leaves a snapshot of the volume with a real mark, for the attacker to copy.
    const genuine = await runSchedule(
      { policy: 'nightly', schedule: 'nightly', scheduledAt: '2026-11-18T01:00:00.000Z' },
      runDeps({ config, clients: new AwsClients(), log }),
    );
    const [genuineSnapshot] = genuine.results[0]?.snapshotIds ?? [];
    const described = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [genuineSnapshot ?? ''] }));
    const copiedMark = described.Snapshots?.[0]?.Tags?.find((t) => t.Key === TAG.mark)?.Value;
    expect(copiedMark).toMatch(/^v1:/);

    const id = await deadClaim(target, '2026-11-19T01:00:00.000Z', new Date().toISOString());
    // Right after the claim, of the target's own volume, in this account: only the mark can tell them apart.
    const unmarked = await snapshotOf(volumeId);
    const remarked = await snapshotOf(volumeId);
    await forge(unmarked, id);
    await forge(remarked, id);
    await ec2.send(
      new CreateTagsCommand({ Resources: [remarked], Tags: [{ Key: TAG.mark, Value: copiedMark }] }),
    );

    const clock = ahead(CLAIM_LEASE_MS + MINUTE);
    const pass = await reconcile(reconcileDeps({ config, clients: new AwsClients(), clock, log }));
    expect(pass.failed).toContainEqual({ generationId: id, failure: expect.stringContaining('stopped') });
    const generation = await catalog.get(id);
    expect(generation).toMatchObject({ state: 'failed', snapshots: [] });
    expect(generation?.notes).toEqual([
      expect.stringMatching(new RegExp(`not adopted: ${unmarked} .*without a snapkeeper:mark tag`)),
      expect.stringMatching(new RegExp(`not adopted: ${remarked} .*not by a create of ${id}`)),
    ]);
    // Held: both are still there, for whoever made them.
    const left = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [unmarked, remarked] }));
    expect(left.Snapshots).toHaveLength(2);
  });

  it('reconcile adopts the AMI of a pending AMI generation but no forged snapshot with it', async () => {
    // The boot volume alone: the AMI is all the generation holds, so nothing is recorded until EC2 lists it.
    const instance = await anInstance(ec2, { tags: { 'snapkeeper:policy': 'imaging' }, dataVolumes: 0 });
    const scheduledAt = '2026-11-22T01:00:00.000Z';
    const id = generationId('imaging', 'nightly', scheduledAt, { kind: 'instance', id: instance.instanceId });
    const forged = await forgeBoth(instance.bootVolumeId, id);
    // EC2 has not listed the AMI's snapshots yet when the run records it: the generation is pending on its AMI.
    const faults = newFaults().transform('DescribeImages', (output) => ({
      ...output,
      Images: ((output.Images ?? []) as Record<string, unknown>[]).map((i) => ({
        ...i,
        BlockDeviceMappings: [],
      })),
    }));
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const clock = ahead(10 * MINUTE);
    const deps = { ...runDeps({ config, clients, clock, log }), timer: { sleep: async () => {} } };
    const report = await runSchedule({ policy: 'imaging', schedule: 'nightly', scheduledAt }, deps);
    expect(report.results[0]).toMatchObject({ generationId: id, outcome: 'created', state: 'pending' });
    const amiId = (await catalog.get(id))?.amiId;
    expect(amiId).toBeDefined();

    const plain = new AwsClients();
    await reconcile(reconcileDeps({ config, clients: plain, clock, log }));
    const generation = await catalog.get(id);
    expect(generation?.state).toBe('completed');
    expect(generation?.snapshots).toEqual([expect.objectContaining({ amiId, deviceName: '/dev/sda1' })]);
    expect(recordedIds(generation)).not.toContain(forged[0]);
    expect(recordedIds(generation)).not.toContain(forged[1]);
    expect(generation?.notes).toEqual(forged.map((s) => expect.stringContaining(`not adopted: ${s}`)));
  });
});
