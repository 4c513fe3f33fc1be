import { describe, expect, it } from 'vitest';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { aConfig, anId, anInstance, aPolicy, aWorld, policyTag } from '../../support/fakes.ts';
import {
  aCopy,
  aGenerationOn,
  withVolume as aWorldWithVolume,
  copyMark,
  ec2Contents,
  ourTags,
  prunePass,
  snapshotMark,
  store,
  type World,
} from '../../support/lifecycle-builders.ts';

// Before any delete, the mark (an HMAC keyed by a secret tags cannot reach) must prove snapkeeper made the resource
// for this generation: tags alone, which anyone with ec2:CreateTags writes, are never enough.

const NOW = '2026-11-21T12:00:00.000Z';
const EXPIRED = '2026-11-20T00:00:00.000Z';
const DR = 'us-west-2';

/** A world whose volume still exists, with one newer completed generation of it (`newest`). */
const withVolume = (config = aConfig()) => aWorldWithVolume(config, NOW);

const snapshotIds = (g: Generation) => g.snapshots.map((s) => s.snapshotId);
const noMark = (id: string, region?: string) =>
  `${id}${region ? ` in ${region}` : ''} carries no valid snapkeeper mark: it was not created by snapkeeper, or was re-tagged; delete it by hand if it is yours (nothing of this generation is deleted meanwhile)`;

async function expectHeldUntouched(world: World, generation: Generation, reason: string, region?: string) {
  const before = ec2Contents(world);
  const report = await prunePass(world);
  expect(report.pruned).toEqual([]);
  expect(report.held).toEqual([{ generationId: generation.id, ...(region ? { region } : {}), reason }]);
  expect(world.pruner.deletes).toEqual([]);
  expect(ec2Contents(world)).toEqual(before);
  expect(world.log.entries).toContainEqual(
    expect.objectContaining({
      level: 'warn',
      message: 'prune refused',
      data: expect.objectContaining({ reason }),
    }),
  );
}

describe('prune: the mark proves a snapshot is ours', () => {
  it('never deletes a foreign snapshot the catalog records, tagged managed and with the generation, and says why', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 2 });
    const [, foreign] = snapshotIds(due) as [string, string];
    // A forged adoption put someone's snapshot into the catalog; they tagged it exactly as a run would, but
    // without the key they cannot write its mark.
    store(world, [due, world.newest], { tags: { [foreign]: ourTags(due) } });
    await expectHeldUntouched(world, due, noMark(foreign));
    expect((await world.catalog.get(due.id))?.heldBecause).toBe(noMark(foreign));
    world.clock.advance(3_600_000);
    expect((await prunePass(world)).pruned).toEqual([]);
    expect(world.pruner.deletes).toEqual([]);
  });

  it('holds a genuine snapshot whose mark was altered, or copied from another snapshot', async () => {
    for (const altered of ['v1:AAAA', 'alter']) {
      const world = withVolume();
      const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, volumes: 2 });
      const [first, second] = due.snapshots as [Generation['snapshots'][0], Generation['snapshots'][0]];
      // `alter`: the mark of the generation's other snapshot, a valid mark but over another volume.
      const mark = altered === 'alter' ? snapshotMark(due, first) : altered;
      store(world, [due, world.newest], {
        tags: { [second.snapshotId]: { ...ourTags(due), [TAG.mark]: mark } },
      });
      await expectHeldUntouched(world, due, noMark(second.snapshotId));
    }
  });

  it("checks the VolumeId EC2 reports, not the catalog's: a genuine mark on a snapshot of another volume is held", async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    store(world, [due, world.newest]);
    const [record] = due.snapshots;
    const inEc2 = world.ec2.snapshots.get(record?.snapshotId ?? '');
    if (!inEc2) throw new Error('stored snapshot missing');
    inEc2.volumeId = anId('vol'); // the catalog says vol-a, EC2 says the snapshot is of vol-b
    await expectHeldUntouched(world, due, noMark(record?.snapshotId ?? ''));
  });

  it('holds a snapshot of an instance set whose EC2 volume is not the one the catalog recorded for it', async () => {
    const config = aConfig();
    const world = aWorld({ config, now: NOW });
    const web = anInstance({ tags: policyTag('daily') });
    world.ec2.add(web);
    const target = { kind: 'instance' as const, id: web.instanceId };
    const due = aGenerationOn(10, { target, expiresAt: EXPIRED, volumes: 2 });
    const [boot, data] = due.snapshots as [Generation['snapshots'][0], Generation['snapshots'][0]];
    const newest = aGenerationOn(19, { target });
    store(world, [due, newest]);
    // Both snapshots carry the instance's valid mark; one is in fact of a volume the set never recorded.
    const swapped = world.ec2.snapshots.get(data.snapshotId);
    if (!swapped) throw new Error('stored snapshot missing');
    swapped.volumeId = anId('vol');
    await expectHeldUntouched(world, due, noMark(data.snapshotId));
    expect(world.ec2.snapshots.has(boot.snapshotId)).toBe(true);
  });

  it('holds an AMI without its mark, and the snapshots behind it with it', async () => {
    const world = withVolume();
    const amiId = 'ami-0123456789abcdef0';
    const instanceId = 'i-0123456789abcdef0';
    const taken = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, amiId });
    const due = { ...taken, snapshots: taken.snapshots.map((s) => ({ ...s, amiId, instanceId })) };
    store(world, [due, world.newest], { tags: { [amiId]: ourTags(due) } });
    await expectHeldUntouched(world, due, noMark(amiId));
  });

  it("ties an AMI's snapshot to the AMI by EC2's listing behind it, else by its VolumeId", async () => {
    for (const listed of [true, false]) {
      const world = withVolume();
      const amiId = 'ami-0123456789abcdef0';
      const taken = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED, amiId });
      const instanceId = 'i-0123456789abcdef0';
      const due = { ...taken, snapshots: taken.snapshots.map((s) => ({ ...s, amiId, instanceId })) };
      store(world, [due, world.newest]);
      const [behind] = snapshotIds(due) as [string];
      // EC2 reports another volume for it (a copy of the AMI's snapshot would): only the listing ties it.
      const inEc2 = world.ec2.snapshots.get(behind);
      if (!inEc2) throw new Error('stored snapshot missing');
      inEc2.volumeId = anId('vol');
      if (listed) world.pruner.imageSnapshots.set(amiId, [behind]);
      const report = await prunePass(world);
      if (listed) expect(report.pruned.map((p) => p.generationId)).toEqual([due.id]);
      else expect(report.held).toEqual([{ generationId: due.id, reason: noMark(behind) }]);
    }
  });

  it('deletes nothing when the mark key cannot be read, and says so', async () => {
    const world = withVolume();
    const due = aGenerationOn(10, { volumeId: world.volumeId, expiresAt: EXPIRED });
    store(world, [due, world.newest]);
    world.markKey.failing = new Error('GetParameter: AccessDeniedException');
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([
      { generationId: due.id, reason: 'prune failed: GetParameter: AccessDeniedException' },
    ]);
    expect(world.pruner.deletes).toEqual([]);
    // Once it can be read again, the genuine generation goes.
    world.markKey.failing = undefined;
    expect((await prunePass(world)).pruned.map((p) => p.generationId)).toEqual([due.id]);
  });
});

describe('prune: the mark of a DR copy', () => {
  const config = aConfig({
    policies: [aPolicy({ targets: 'volumes', copies: [{ region: DR, keep: { count: 1 } }] })],
  });

  function withCopies() {
    const world = withVolume(config);
    const taken = aGenerationOn(10, { volumeId: world.volumeId });
    const due = { ...taken, copies: [aCopy(taken, DR, 'completed', undefined, { expiresAt: EXPIRED })] };
    const newer = { ...world.newest, copies: [aCopy(world.newest, DR, 'completed')] };
    return { world, due, newer, copied: due.copies[0]?.snapshotIds[0] as string };
  }

  it('holds a copy whose mark was altered, deleting nothing of it', async () => {
    const { world, due, newer, copied } = withCopies();
    store(world, [due, newer], {
      tags: { [copied]: { ...ourTags(due), [TAG.sourceSnapshot]: 'snap-x', [TAG.mark]: 'v1:forged' } },
    });
    await expectHeldUntouched(world, due, noMark(copied, DR), DR);
    expect((await world.catalog.get(due.id))?.copies[0]?.heldBecause).toBe(noMark(copied, DR));
  });

  it('holds a copy marked for another Region: a mark is bound to where the copy was made', async () => {
    const { world, due, newer, copied } = withCopies();
    const source = due.snapshots[0]?.snapshotId ?? '';
    // The genuine mark of a copy of the same source, made in eu-west-1, moved onto the us-west-2 copy.
    store(world, [due, newer], {
      tags: { [copied]: { ...ourTags(due), [TAG.mark]: copyMark(due, source, 'eu-west-1') } },
    });
    await expectHeldUntouched(world, due, noMark(copied, DR), DR);
  });

  it('prunes a genuine copy', async () => {
    const { world, due, newer, copied } = withCopies();
    store(world, [due, newer]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([{ generationId: due.id, region: DR, snapshotIds: [copied] }]);
    expect(world.ec2.snapshots.has(copied)).toBe(false);
  });
});
