import { describe, expect, it } from 'vitest';
import { prunePass, store } from '../../support/lifecycle-builders.ts';
import { aReplicaWorld, DR, NOW, REPLICA_KINDS } from '../../support/replica-world.ts';

// The primary snapshots and each DR copy are pruned by one crash-safe delete behind one set of interlocks: every
// case runs once for each kind of replica, and each was a place where the two used to differ.

describe.each(REPLICA_KINDS)('pruning the $kind replica', ({ kind, record, snapshotIds, due }) => {
  const region = kind === 'copy' ? { region: DR } : {};

  it('notes and logs a snapshot deleted by hand, and still finishes', async () => {
    const world = aReplicaWorld();
    const old = due(world.copiedOn(10));
    store(world, [old, world.copiedOn(11)], { missing: snapshotIds(old) });
    const report = await prunePass(world);
    expect(report.pruned).toEqual([expect.objectContaining({ generationId: old.id, ...region })]);
    expect(report.notes).toEqual([
      { generationId: old.id, note: expect.stringContaining('deleted outside snapkeeper') },
    ]);
    expect(world.log.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'prune note',
        data: expect.objectContaining({ generationId: old.id }),
      }),
    );
    expect(record(await world.stored(old.id)).deletedAt).toBe(NOW);
  });

  it('holds a due replica whose generation is dated after now, deleting nothing', async () => {
    const world = aReplicaWorld();
    const ahead = due(world.copiedOn(365, { takenAt: '2026-11-20T00:00:00.000Z' }));
    store(world, [world.copiedOn(10), ahead]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([
      {
        generationId: ahead.id,
        ...region,
        reason: expect.stringContaining(`scheduled for ${ahead.scheduledAt}, after now`),
      },
    ]);
    expect(world.pruner.deletes).toEqual([]);
  });

  it('keeps the real newest one: a generation dated after now is never the newest of its target', async () => {
    const world = aReplicaWorld();
    const newest = due(world.copiedOn(11));
    store(world, [world.copiedOn(10), newest, world.copiedOn(365, { takenAt: '2026-11-20T00:00:00.000Z' })]);
    const report = await prunePass(world);
    expect(report.pruned).toEqual([]);
    expect(report.held).toEqual([
      { generationId: newest.id, ...region, reason: expect.stringContaining('newest') },
    ]);
  });
  it('holds a replica whose snapshot a user registered an AMI from, naming the AMI, until the AMI is gone', async () => {
    const world = aReplicaWorld();
    const old = due(world.copiedOn(10));
    store(world, [old, world.copiedOn(11)]);
    const [snapshotId] = snapshotIds(old) as [string];
    world.pruner.registered.set('ami-0users0own0ami', [snapshotId]);

    for (const pass of [1, 2]) {
      const report = await prunePass(world);
      expect(report.pruned, `pass ${pass}`).toEqual([]);
      expect(report.held).toEqual([
        {
          generationId: old.id,
          ...region,
          reason: expect.stringContaining(`in use by AMI ami-0users0own0ami`),
        },
      ]);
    }
    expect(world.pruner.deletes).toEqual([]);
    expect(record(await world.stored(old.id)).heldBecause).toContain('ami-0users0own0ami');

    world.pruner.registered.clear();
    const report = await prunePass(world);
    expect(report.pruned).toEqual([expect.objectContaining({ generationId: old.id, ...region })]);
    expect(record(await world.stored(old.id)).heldBecause).toBeUndefined();
  });

  it('holds, and does not fail, when the AMI is registered between the look-up and the delete', async () => {
    const world = aReplicaWorld();
    const old = due(world.copiedOn(10, { volumes: 2 }));
    store(world, [old, world.copiedOn(11, { volumes: 2 })]);
    const [first, second] = snapshotIds(old) as [string, string];
    world.pruner.registerBeforeDelete = { imageId: 'ami-0registered0late', snapshotId: second };

    const raced = await prunePass(world);
    expect(raced.held).toEqual([
      {
        generationId: old.id,
        ...region,
        reason: expect.stringContaining('in use by AMI ami-0registered0late'),
      },
    ]);
    expect(world.log.messages('error')).not.toContain('prune failed');
    expect(world.pruner.deletes).toEqual([first]);

    world.pruner.registered.clear();
    const resumed = await prunePass(world);
    expect(resumed.pruned).toEqual([
      expect.objectContaining({ generationId: old.id, snapshotIds: [first, second] }),
    ]);
    expect(world.pruner.deletes).toEqual([first, second]);
  });
});

describe('pruning both replicas of a generation in one pass', () => {
  it("prunes the copy even when the primary's prune fails, and says which one failed", async () => {
    const world = aReplicaWorld();
    const old = REPLICA_KINDS.reduce((g, k) => k.due(g), world.copiedOn(10));
    store(world, [old, world.copiedOn(11)]);
    // The first delete of the pass is the primary's.
    world.pruner.failOnDelete = 1;
    const report = await prunePass(world);
    expect(report.pruned).toEqual([expect.objectContaining({ generationId: old.id, region: DR })]);
    expect(report.held).toEqual([{ generationId: old.id, reason: expect.stringContaining('prune failed') }]);
    expect((await world.stored(old.id)).pruneStartedAt).toBe(NOW);
    expect((await world.stored(old.id)).deletedAt).toBeUndefined();
  });
});

describe('when the look-up of AMIs using the snapshots fails', () => {
  it("goes on pruning, and EC2's own refusal still holds a snapshot an AMI uses", async () => {
    const world = aReplicaWorld();
    const used = REPLICA_KINDS[0]?.due(world.copiedOn(9)) as ReturnType<typeof world.copiedOn>;
    const free = REPLICA_KINDS[0]?.due(world.copiedOn(10)) as ReturnType<typeof world.copiedOn>;
    store(world, [used, free, world.copiedOn(11)]);
    world.pruner.registered.set('ami-0users0own0ami', [used.snapshots[0]?.snapshotId ?? '']);
    const lookUp = world.pruner.imagesUsing.bind(world.pruner);
    let calls = 0;
    world.pruner.imagesUsing = (region, ids) => {
      calls += 1;
      // The pass's look-up fails (throttled past its retries); the adapter's own after a refusal succeeds.
      return calls === 1 ? Promise.reject(new Error('RequestLimitExceeded')) : lookUp(region, ids);
    };
    const report = await prunePass(world);
    expect(report.pruned.map((p) => p.generationId)).toEqual([free.id]);
    expect(report.held).toEqual([
      { generationId: used.id, reason: expect.stringContaining('in use by AMI ami-0users0own0ami') },
    ]);
    expect(world.log.messages('warn')).toContain('images using snapshots not looked up');
  });
});
