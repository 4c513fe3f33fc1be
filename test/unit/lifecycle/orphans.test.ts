import { describe, expect, it } from 'vitest';
import { UNMARKED } from '#core/lifecycle/orphans.ts';
import { markOf } from '#core/model/mark.ts';
import { TAG } from '#core/model/tags.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';
import { aConfig, anInstance, aPolicy, aVolume, aWorld, policyTag } from '../../support/fakes.ts';

// The orphan sweep of reconcile: snapshots tagged with an open generation's id that its record lacks. Only what
// snapkeeper's own mark proves is its work is ever deleted or recorded; everything else is held and reported.

const volumesConfig = aConfig({ policies: [aPolicy({ targets: 'volumes' })] });

/** One run of a tagged volume, its snapshot completed: a generation recorded with one snapshot. */
async function afterVolumeRun() {
  const world = aWorld({ config: volumesConfig });
  const volume = aVolume({ tags: policyTag('daily') });
  world.ec2.add(volume);
  const [result] = (await world.run()).results;
  const generationId = result?.generationId ?? '';
  const recorded = result?.snapshotIds[0] ?? '';
  const tags = world.ec2.snapshots.get(recorded)?.tags ?? {};
  return { world, volume, generationId, recorded, tags };
}

const snapshotIdsOf = (world: ReturnType<typeof aWorld>) => world.ec2.allSnapshots().map((s) => s.snapshotId);

describe('the orphan sweep', () => {
  it('deletes a second snapshot of a recorded volume that the generation’s own create made', async () => {
    const { world, volume, generationId, recorded, tags } = await afterVolumeRun();
    // A create whose answer was lost made this one: the same tags and mark as the recorded snapshot.
    const extra = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags });
    world.ec2.completeAll();

    const report = await world.reconcile();

    expect(report.orphans.deleted).toEqual([
      expect.objectContaining({ generationId, snapshotId: extra, reason: expect.stringContaining(recorded) }),
    ]);
    expect(report.orphans.held).toEqual([]);
    expect(world.ec2.snapshots.has(extra)).toBe(false);
    expect(world.ec2.snapshots.has(recorded)).toBe(true);
    expect((await world.catalog.get(generationId))?.snapshots.map((s) => s.snapshotId)).toEqual([recorded]);
    expect(snapshotIdsOf(world)).toEqual([recorded]);
  });

  it('keeps the extra snapshot while the recorded one is still pending, and deletes it once that completed', async () => {
    const { world, volume, recorded, tags } = await afterVolumeRun();
    const extra = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags });
    world.ec2.setSnapshotState(extra, 'completed');

    const first = await world.reconcile();
    expect(first.orphans.held).toEqual([
      expect.objectContaining({ snapshotId: extra, reason: expect.stringContaining('still pending') }),
    ]);
    expect(world.ec2.snapshots.has(extra)).toBe(true);

    world.ec2.setSnapshotState(recorded, 'completed');
    expect((await world.reconcile()).orphans.deleted.map((o) => o.snapshotId)).toEqual([extra]);
  });

  it('never touches a snapshot that carries the generation’s tags but no mark, or a wrong one', async () => {
    const { world, volume, generationId, recorded, tags } = await afterVolumeRun();
    const { [TAG.mark]: _mark, ...unmarked } = tags;
    const forged = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: unmarked });
    const wrongMark = markOf(TEST_MARK_SECRET, { kind: 'volume', generationId, volumeId: 'vol-0other' });
    const misMarked = world.ec2.forgeSnapshot({
      volumeId: volume.volumeId,
      tags: { ...unmarked, [TAG.mark]: wrongMark },
    });
    world.ec2.completeAll();

    const report = await world.reconcile();

    expect(report.orphans.held.map((o) => [o.snapshotId, o.reason.startsWith(UNMARKED)])).toEqual([
      [forged, true],
      [misMarked, true],
    ]);
    expect(report.orphans.deleted).toEqual([]);
    expect(report.orphans.recorded).toEqual([]);
    expect(snapshotIdsOf(world).sort()).toEqual([recorded, forged, misMarked].sort());
    expect((await world.catalog.get(generationId))?.snapshots.map((s) => s.snapshotId)).toEqual([recorded]);
  });

  it('holds a marked copy that is not the claim’s work: another account, or taken long before the claim', async () => {
    const { world, volume, recorded, tags } = await afterVolumeRun();
    // The mark names the generation and the volume, not the snapshot: a copied mark tag proves no more.
    const foreign = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags, ownerId: '999999999999' });
    const old = world.ec2.forgeSnapshot({
      volumeId: volume.volumeId,
      tags,
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    world.ec2.completeAll();

    const report = await world.reconcile();

    expect(report.orphans.held).toEqual([
      expect.objectContaining({
        snapshotId: foreign,
        reason: expect.stringContaining('owned by account 999999999999'),
      }),
      expect.objectContaining({
        snapshotId: old,
        reason: expect.stringContaining("outside the claim's window"),
      }),
    ]);
    expect(snapshotIdsOf(world).sort()).toEqual([recorded, foreign, old].sort());
  });

  it('records a marked snapshot of a volume a pending generation lacks, beside what it holds', async () => {
    const world = aWorld();
    const web = anInstance({ volumes: 2, tags: policyTag('daily') });
    world.ec2.add(web);
    const [result] = (await world.run()).results;
    const generationId = result?.generationId ?? '';
    const generation = await world.catalog.get(generationId);
    const [kept, lost] = generation?.snapshots ?? [];
    // As if the answer naming the second snapshot never arrived: the record holds the first only.
    await world.catalog.recordOutcome({
      ...(generation as NonNullable<typeof generation>),
      snapshots: kept ? [kept] : [],
    });

    const report = await world.reconcile();

    expect(report.orphans.recorded).toEqual([
      expect.objectContaining({ generationId, snapshotId: lost?.snapshotId, volumeId: lost?.volumeId }),
    ]);
    const after = await world.catalog.get(generationId);
    expect(after?.snapshots.map((s) => s.snapshotId)).toEqual([kept?.snapshotId, lost?.snapshotId]);
    expect(after?.snapshots[1]).toMatchObject({ instanceId: web.instanceId, consistency: 'crash' });
    expect(after?.notes).toEqual([expect.stringContaining(`recorded by reconcile: ${lost?.snapshotId}`)]);
    expect((await world.reconcile()).orphans).toEqual({ recorded: [], deleted: [], held: [] });
  });

  it('holds a marked snapshot of a volume a completed generation lacks: a final outcome is not changed', async () => {
    const world = aWorld();
    world.ec2.add(anInstance({ volumes: 2, tags: policyTag('daily') }));
    const [result] = (await world.run()).results;
    world.ec2.completeAll();
    const generation = await world.catalog.get(result?.generationId ?? '');
    const [kept, lost] = generation?.snapshots.map((s) => ({ ...s, state: 'completed' as const })) ?? [];
    await world.catalog.recordOutcome({
      ...(generation as NonNullable<typeof generation>),
      state: 'completed',
      snapshots: kept ? [kept] : [],
    });

    const report = await world.reconcile();

    expect(report.orphans.held).toEqual([
      expect.objectContaining({ snapshotId: lost?.snapshotId, reason: expect.stringContaining('final') }),
    ]);
    expect(world.ec2.snapshots.has(lost?.snapshotId ?? '')).toBe(true);
  });

  it('looks every open generation up in one call by generation tag, never scanning the account', async () => {
    const world = aWorld({ config: volumesConfig });
    world.ec2.add(aVolume({ tags: policyTag('daily') }), aVolume({ tags: policyTag('daily') }));
    const ids = (await world.run()).results.map((r) => r.generationId);
    const lookups: (readonly string[])[] = [];
    world.ec2.faults.onCall('snapshotsOfGenerations', (asked) => {
      lookups.push(asked);
    });
    await world.reconcile();
    expect(lookups.map((asked) => [...asked].sort())).toEqual([ids.sort()]);
  });

  it('sweeps nothing of a claim that recorded nothing yet: its run may still be at work', async () => {
    const world = aWorld({ config: volumesConfig });
    const volume = aVolume({ tags: policyTag('daily') });
    world.ec2.add(volume);
    world.catalog.faults.failNext('recordOutcome', { error: new Error('the Lambda stopped') });
    world.catalog.faults.failNext('recordFailure', { error: new Error('the Lambda stopped') });
    await world.run();
    const [made] = world.ec2.allSnapshots();

    const report = await world.reconcile();

    expect(report.orphans).toEqual({ recorded: [], deleted: [], held: [] });
    expect(world.ec2.snapshots.has(made?.snapshotId ?? '')).toBe(true);
  });
});
