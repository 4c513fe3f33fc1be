import { writeFileSync } from 'node:fs';
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { tagList } from '#adapters/ec2/snapshots.ts';
import { parseConfig } from '#core/config/config.ts';
import type { ReconcileReport } from '#core/lifecycle/reconcile.ts';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { catalogFor } from '#wiring';
import { faults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { anInstance, aVolume } from '../support/fleet.ts';

// The mark on the emulator, through the real CLI, adapters and key: a snapshot tagged exactly as a run tags it
// is still never deleted unless its mark, recomputed from EC2's own facts with the key, matches.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'marks-catalog' },
  copyQueue: { name: 'marks-copies' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
    },
    {
      name: 'images',
      targets: 'instances',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 }, ami: true }],
    },
    {
      name: 'offsite',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 5 } }],
      copies: [{ region: 'us-west-2', keep: { count: 1 } }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-marks-${process.pid}.json`;
const seam = faults();
const clients = new AwsClients({ maxAttempts: 2, middleware: [seam.pluggable()] });
const east = new EC2Client({ region: 'us-east-1' });
const west = new EC2Client({ region: 'us-west-2' });
const catalog = catalogFor(config, clients);
const night = (n: number, hour = 1) => `2026-10-${String(n).padStart(2, '0')}T0${hour}:00:00.000Z`;

async function snapkeeper(...argv: string[]) {
  const result = await cli([...argv, '--config', configFile, '--quiet', '--json'], clients);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as unknown;
}
const run = (policy: string, n: number) =>
  snapkeeper('run', '--policy', policy, '--schedule', 'nightly', '--at', night(n));
const reconcile = async (n: number) =>
  (await snapkeeper('reconcile', '--at', night(n, 2))) as ReconcileReport;
/** A night's run and its DR copies: in AWS (and LocalStack) the run's snapshots are still pending when it ends, and
 * the reconcile pass that finds them completed queues the copies the worker then makes. */
async function runAndCopy(policy: string, n: number): Promise<void> {
  await run(policy, n);
  await reconcile(n);
  await snapkeeper('copy', '--at', night(n, 2), '--max-delay', '0');
}

async function exists(ec2: EC2Client, snapshotId: string): Promise<boolean> {
  const found = await ec2.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }] }),
  );
  return (found.Snapshots ?? []).length > 0;
}

async function imageExists(imageId: string): Promise<boolean> {
  const found = await east.send(
    new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: [imageId] }] }),
  );
  return (found.Images ?? []).length > 0;
}

async function only(volumeId: string): Promise<Generation> {
  const [generation] = await catalog.byVolume(volumeId);
  if (!generation) throw new Error(`no generation of ${volumeId}`);
  return generation;
}

const noMark = (id: string, where = '') =>
  `${id}${where} carries no valid snapkeeper mark: it was not created by snapkeeper, or was re-tagged; delete it by hand if it is yours (nothing of this generation is deleted meanwhile)`;

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  await snapkeeper('init');
});

describe('the mark on the emulator', () => {
  it('writes a mark on every snapshot at creation, and prunes genuine snapshots', async () => {
    const volumeId = await aVolume(east, { tags: { [TAG.policy]: 'nightly' } });
    await run('nightly', 1);
    const first = await only(volumeId);
    const [snapshot] =
      (await east.send(new DescribeSnapshotsCommand({ SnapshotIds: [first.snapshots[0]?.snapshotId ?? ''] })))
        .Snapshots ?? [];
    expect(snapshot?.Tags).toContainEqual({ Key: TAG.mark, Value: expect.stringMatching(/^v1:/) });
    await run('nightly', 2);
    const report = await reconcile(2);
    expect(report.pruned.map((p) => p.generationId)).toContain(first.id);
    expect(await exists(east, first.snapshots[0]?.snapshotId ?? '')).toBe(false);
  });

  it('never deletes a foreign snapshot the catalog records with forged managed and generation tags, and says why', async () => {
    const volumeId = await aVolume(east, { tags: { [TAG.policy]: 'nightly' } });
    await run('nightly', 3);
    const victim = await only(volumeId);
    // Someone with only ec2:CreateTags makes a snapshot look like this generation's, and the catalog lists it too
    // (as a forged adoption would have recorded it).
    const foreign = await east.send(
      new CreateSnapshotCommand({
        VolumeId: await aVolume(east),
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: tagList({ [TAG.managed]: 'true', [TAG.generation]: victim.id, [TAG.policy]: 'nightly' }),
          },
        ],
      }),
    );
    const foreignId = foreign.SnapshotId ?? '';
    const record = { ...(victim.snapshots[0] as Generation['snapshots'][0]), snapshotId: foreignId };
    await catalog.recordOutcome({ ...victim, snapshots: [...victim.snapshots, record] });
    await run('nightly', 4);
    const report = await reconcile(4);
    expect(report.held).toContainEqual({ generationId: victim.id, reason: noMark(foreignId) });
    expect(await exists(east, foreignId)).toBe(true);
    expect(await exists(east, victim.snapshots[0]?.snapshotId ?? '')).toBe(true);
    expect((await catalog.get(victim.id))?.heldBecause).toBe(noMark(foreignId));
  });

  it('holds a genuine snapshot whose mark was re-tagged', async () => {
    const volumeId = await aVolume(east, { tags: { [TAG.policy]: 'nightly' } });
    await run('nightly', 5);
    const victim = await only(volumeId);
    const snapshotId = victim.snapshots[0]?.snapshotId ?? '';
    await east.send(
      new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: TAG.mark, Value: 'v1:retagged' }] }),
    );
    await run('nightly', 6);
    const report = await reconcile(6);
    expect(report.held).toContainEqual({ generationId: victim.id, reason: noMark(snapshotId) });
    expect(await exists(east, snapshotId)).toBe(true);
  });

  it('holds a DR copy whose mark was re-tagged, and prunes a genuine one', async () => {
    const tampered = await aVolume(east, { tags: { [TAG.policy]: 'offsite' } });
    const genuine = await aVolume(east, { tags: { [TAG.policy]: 'offsite' } });
    await runAndCopy('offsite', 7);
    const [victim, kept] = [await only(tampered), await only(genuine)];
    const copyOf = (g: Generation) => g.copies[0]?.snapshotIds[0] ?? '';
    expect(await exists(west, copyOf(victim))).toBe(true);
    await west.send(
      new CreateTagsCommand({ Resources: [copyOf(victim)], Tags: [{ Key: TAG.mark, Value: 'v1:retagged' }] }),
    );
    await runAndCopy('offsite', 8);
    const report = await reconcile(8);
    expect(report.held).toContainEqual({
      generationId: victim.id,
      region: 'us-west-2',
      reason: noMark(copyOf(victim), ' in us-west-2'),
    });
    expect(await exists(west, copyOf(victim))).toBe(true);
    expect(report.pruned).toContainEqual({
      generationId: kept.id,
      region: 'us-west-2',
      snapshotIds: [copyOf(kept)],
    });
    expect(await exists(west, copyOf(kept))).toBe(false);
  });

  it('prunes a genuine AMI with the snapshots behind it, and holds one whose mark was re-tagged', async () => {
    const genuine = await anInstance(east, { tags: { [TAG.policy]: 'images' }, dataVolumes: 1 });
    const tampered = await anInstance(east, { tags: { [TAG.policy]: 'images' }, dataVolumes: 1 });
    await run('images', 12);
    const [kept, victim] = [await only(genuine.bootVolumeId), await only(tampered.bootVolumeId)];
    const victimAmi = victim.amiId ?? '';
    await east.send(
      new CreateTagsCommand({ Resources: [victimAmi], Tags: [{ Key: TAG.mark, Value: 'v1:retagged' }] }),
    );
    await run('images', 13);
    const report = await reconcile(13);
    expect(report.pruned).toContainEqual({
      generationId: kept.id,
      snapshotIds: kept.snapshots.map((s) => s.snapshotId),
      amiIds: [kept.amiId],
    });
    expect(await imageExists(kept.amiId ?? '')).toBe(false);
    for (const s of kept.snapshots) expect(await exists(east, s.snapshotId)).toBe(false);
    expect(report.held).toContainEqual({ generationId: victim.id, reason: noMark(victimAmi) });
    expect(await imageExists(victimAmi)).toBe(true);
    for (const s of victim.snapshots) expect(await exists(east, s.snapshotId)).toBe(true);
  });
});
