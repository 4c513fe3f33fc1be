import { describe, expect, it } from 'vitest';
import { copyOf, primaryOf, type Replica, writeReplica } from '#core/lifecycle/replica.ts';
import type { CopyRecord, Generation } from '#core/model/generation.ts';
import { plusDays, store } from '../../support/lifecycle-builders.ts';
import { aReplicaWorld, EXPIRED, NOW, PRIMARY, REPLICA_KINDS } from '../../support/replica-world.ts';

// The primary snapshots and each DR copy are written through one writer, which maps each change to the catalog's
// generation update or copy update: every case runs once for each kind of replica.

/** Each kind, with the view the lifecycle takes of it. */
const KINDS = REPLICA_KINDS.map((k) => ({
  ...k,
  of: (g: Generation): Replica =>
    k.kind === 'primary' ? primaryOf(g, PRIMARY) : copyOf(g, g.copies[0] as CopyRecord),
}));

describe.each(KINDS)('the $kind replica', ({ kind, of, due }) => {
  describe('written through writeReplica', () => {
    it('records a change on the record it came from, and only there', async () => {
      const world = aReplicaWorld();
      const generation = world.copiedOn(10);
      store(world, [generation]);
      const written = await writeReplica(world.catalog, of(generation), { heldBecause: 'a reason' });
      expect(written.heldBecause).toBe('a reason');
      const stored = await world.stored(generation.id);
      expect(of(stored).heldBecause).toBe('a reason');
      const other = KINDS.find((k) => k.kind !== kind)?.of(stored);
      expect(other?.heldBecause).toBeUndefined();
    });

    it('never moves an expiry, a placement or a prune start once recorded', async () => {
      const world = aReplicaWorld();
      const generation = world.copiedOn(10);
      store(world, [generation]);
      const first = await writeReplica(world.catalog, of(generation), {
        expiresAt: EXPIRED,
        pruneStartedAt: NOW,
      });
      await writeReplica(world.catalog, first, {
        expiresAt: plusDays(EXPIRED, 30),
        pruneStartedAt: plusDays(NOW, 1),
        retentionAppliedAt: plusDays(NOW, 1),
      });
      const stored = of(await world.stored(generation.id));
      expect(stored.expiresAt).toBe(EXPIRED);
      expect(stored.pruneStartedAt).toBe(NOW);
      expect(stored.retentionAppliedAt).toBe(of(generation).retentionAppliedAt);
    });

    it('never writes a deleted replica, and writes nothing when nothing changes', async () => {
      const world = aReplicaWorld();
      const deleted = due(world.copiedOn(10));
      const gone = kind === 'primary' ? { ...deleted, deletedAt: NOW } : deleted;
      const record =
        kind === 'copy' ? { ...gone, copies: gone.copies.map((c) => ({ ...c, deletedAt: NOW })) } : gone;
      store(world, [record]);
      const before = (await world.stored(record.id)).revision;
      await writeReplica(world.catalog, of(record), { heldBecause: 'too late' });
      await writeReplica(world.catalog, of(record), { expiresAt: of(record).expiresAt });
      const after = await world.stored(record.id);
      expect(after.revision).toBe(before);
      expect(of(after).heldBecause).toBeUndefined();
    });
  });
});
