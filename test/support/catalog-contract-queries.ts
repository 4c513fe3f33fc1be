import { describe, expect, it } from 'vitest';
import type { Catalog } from '#core/model/catalog.ts';
import type { Generation, SnapshotRecord } from '#core/model/generation.ts';
import {
  aClaimed,
  aCopy,
  aDistinctGeneration,
  type ContractContext,
  stored,
} from './catalog-contract-kit.ts';

/** The catalog contract for listings and the open-work and expiry indexes, page boundaries included. */
export function catalogQueryContract(context: ContractContext): void {
  describe('listings', () => {
    it('lists by target, policy, lineage and volume, newest first, each only its own', async () => {
      const { catalog } = context.subject;
      const volumeId = 'vol-0contract00000001';
      const target = { kind: 'volume' as const, id: volumeId };
      const daily = [1, 2, 3].map(() => aDistinctGeneration({ volumeId, target }));
      const weekly = aDistinctGeneration({ volumeId, target, schedule: 'weekly' });
      const monthly = aDistinctGeneration({ volumeId, target, policy: 'monthly', schedule: 'monthly' });
      const other = aDistinctGeneration();
      const all = [...daily, weekly, monthly, other];
      for (const generation of all) await claimWithOutcome(catalog, generation);
      const newestFirst = (gs: Generation[]) => ids([...gs].reverse());

      expect(ids(await catalog.byTarget(volumeId))).toEqual(newestFirst([...daily, weekly, monthly]));
      expect(ids(await catalog.byVolume(volumeId))).toEqual(newestFirst([...daily, weekly, monthly]));
      expect(ids(await catalog.byPolicy('daily'))).toEqual(newestFirst([...daily, weekly, other]));
      expect(ids(await catalog.lineage(volumeId, 'daily', 'daily'))).toEqual(newestFirst(daily));
      expect(ids(await catalog.lineage(volumeId, 'daily', 'weekly'))).toEqual([weekly.id]);
      expect(ids(await catalog.lineage(volumeId, 'monthly', 'monthly'))).toEqual([monthly.id]);
      expect(await catalog.byTarget('vol-0nothing')).toEqual([]);
      expect(await catalog.byPolicy('daily', { limit: 1 })).toEqual([await stored(catalog, other.id)]);
    });

    it('finds a group generation by each member and, once its outcome is recorded, by each volume once', async () => {
      const { catalog } = context.subject;
      const snapshot = (volumeId: string, instanceId: string, deviceName: string): SnapshotRecord => ({
        volumeId,
        instanceId,
        deviceName,
        snapshotId: `snap-0${volumeId.slice(-8)}${deviceName.slice(-1)}`,
        region: 'us-east-1',
        state: 'completed',
        consistency: 'filesystem',
        volumeTags: {},
      });
      const group = aDistinctGeneration({
        target: {
          kind: 'group',
          id: 'group:orders',
          members: ['i-0member0000000001', 'i-0member0000000002'],
        },
        snapshots: [],
        state: 'pending',
      });
      await catalog.claim(group);
      expect(ids(await catalog.byTarget('group:orders'))).toEqual([group.id]);
      expect(ids(await catalog.byTarget('i-0member0000000002'))).toEqual([group.id]);
      expect(await catalog.byVolume('vol-0groupdisk00000a')).toEqual([]);
      const snapshots = [
        snapshot('vol-0groupdisk00000a', 'i-0member0000000001', '/dev/sdf'),
        snapshot('vol-0groupdisk00000a', 'i-0member0000000001', '/dev/sdg'),
        snapshot('vol-0groupdisk00000b', 'i-0member0000000002', '/dev/sdf'),
      ];
      await catalog.recordOutcome({ ...group, snapshots, state: 'completed' });
      expect(ids(await catalog.byVolume('vol-0groupdisk00000a'))).toEqual([group.id]);
      expect(ids(await catalog.byVolume('vol-0groupdisk00000b'))).toEqual([group.id]);
      expect((await stored(catalog, group.id)).snapshots).toEqual(snapshots);
    });

    it('bounds a listing at or before a time, one scheduled exactly then included, and limits it to the newest', async () => {
      const { catalog } = context.subject;
      const volumeId = 'vol-0contract00000002';
      const generations = [1, 2, 3, 4].map(() => aDistinctGeneration({ volumeId }));
      for (const generation of generations) await claimWithOutcome(catalog, generation);
      const [first, second, third, fourth] = generations as [Generation, Generation, Generation, Generation];
      expect(ids(await catalog.byVolume(volumeId, { atOrBefore: third.scheduledAt }))).toEqual(
        ids([third, second, first]),
      );
      const justBefore = new Date(Date.parse(third.scheduledAt) - 1).toISOString();
      expect(ids(await catalog.byTarget(volumeId, { atOrBefore: justBefore, limit: 1 }))).toEqual([
        second.id,
      ]);
      expect(ids(await catalog.byVolume(volumeId, { limit: 2 }))).toEqual(ids([fourth, third]));
      expect(
        ids(await catalog.lineage(volumeId, 'daily', 'daily', { atOrBefore: first.scheduledAt })),
      ).toEqual([first.id]);
      expect(await catalog.byPolicy('daily', { atOrBefore: '2026-01-01T00:00:00.000Z' })).toEqual([]);
    });

    it('reads a listing across pages: 130 generations of one policy, all, the newest 120, or bounded', async () => {
      const { catalog, load } = context.subject;
      const generations = Array.from({ length: 130 }, () => aDistinctGeneration({ policy: 'paged' }));
      await load(generations);
      const newestFirst = ids([...generations].reverse());
      expect(ids(await catalog.byPolicy('paged'))).toEqual(newestFirst);
      expect(ids(await catalog.byPolicy('paged', { limit: 120 }))).toEqual(newestFirst.slice(0, 120));
      const bound = generations[114]?.scheduledAt;
      expect(ids(await catalog.byPolicy('paged', { atOrBefore: bound, limit: 110 }))).toEqual(
        newestFirst.slice(15, 125),
      );
      expect(await catalog.get(generations[0]?.id ?? '')).toEqual(generations[0]);
    });
  });

  describe('the work indexes', () => {
    it('holds a generation in open work while pending and until retention is applied, oldest first', async () => {
      const { catalog } = context.subject;
      const older = await aClaimed(catalog, { state: 'pending', retentionAppliedAt: undefined });
      const newer = await aClaimed(catalog, { state: 'pending', retentionAppliedAt: undefined });
      const done = await aClaimed(catalog);
      expect(ids(await catalog.openGenerations())).toEqual([older.id, newer.id]);
      await catalog.recordOutcome({ ...older, state: 'completed' });
      expect(ids(await catalog.openGenerations(1))).toEqual([older.id]);
      await catalog.update({ ...older, retentionAppliedAt: '2026-11-22T00:00:00.000Z' }, [
        'retentionAppliedAt',
      ]);
      expect(ids(await catalog.openGenerations())).toEqual([newer.id]);
      await catalog.update({ ...done, pruneStartedAt: '2026-11-23T00:00:00.000Z' }, ['pruneStartedAt']);
      expect(ids(await catalog.openGenerations())).toEqual([newer.id, done.id]);
      const read = await stored(catalog, done.id);
      await catalog.update({ ...read, deletedAt: '2026-11-23T01:00:00.000Z' }, ['deletedAt']);
      expect(ids(await catalog.openGenerations())).toEqual([newer.id]);
    });

    it('lists due generations by the soonest undeleted expiry of the primary or a copy, soonest first', async () => {
      const { catalog } = context.subject;
      const primary = await aClaimed(catalog, { expiresAt: '2027-02-01T00:00:00.000Z' });
      const byCopy = await aClaimed(catalog, { expiresAt: '2027-06-01T00:00:00.000Z' });
      await aClaimed(catalog);
      const due = '2027-01-10T00:00:00.000Z';
      await catalog.updateCopy(byCopy.id, 'eu-west-1', () =>
        aCopy('eu-west-1', { state: 'completed', expiresAt: due, retentionAppliedAt: due }),
      );
      const expiring = async (at: string) => ids(await catalog.expiring(at));
      expect(await expiring('2027-01-09T23:59:59.999Z')).toEqual([]);
      expect(await expiring(due)).toEqual([byCopy.id]);
      expect(await expiring('2027-12-31T00:00:00.000Z')).toEqual([byCopy.id, primary.id]);
      expect(ids(await catalog.expiring('2027-12-31T00:00:00.000Z', 1))).toEqual([byCopy.id]);

      // The copy is deleted: the primary's own expiry orders it again; a deleted primary leaves the index.
      await catalog.updateCopy(byCopy.id, 'eu-west-1', (c) => c && { ...c, deletedAt: due });
      expect(await expiring('2027-12-31T00:00:00.000Z')).toEqual([primary.id, byCopy.id]);
      const read = await stored(catalog, primary.id);
      await catalog.update({ ...read, deletedAt: '2027-02-01T01:00:00.000Z' }, ['deletedAt']);
      expect(await expiring('2027-12-31T00:00:00.000Z')).toEqual([byCopy.id]);
    });

    it('reads both indexes across pages: 505 generations open and expiring, at the default limit of 500 or past it', async () => {
      const { catalog, load } = context.subject;
      // Expiries run the other way from schedules, so the two indexes order them differently.
      const generations = Array.from({ length: 505 }, (_, i) =>
        aDistinctGeneration({
          snapshots: [],
          retentionAppliedAt: undefined,
          expiresAt: new Date(Date.UTC(2028, 0, 1) - i * 60_000).toISOString(),
        }),
      );
      await load(generations);
      const oldestFirst = ids(generations);
      const soonestFirst = [...oldestFirst].reverse();
      // One read at the default limit and one past it, in each index's order: on moto each takes seconds.
      expect(ids(await catalog.openGenerations())).toEqual(oldestFirst.slice(0, 500));
      expect(ids(await catalog.expiring('2028-01-01T00:00:00.000Z', 503))).toEqual(
        soonestFirst.slice(0, 503),
      );
    });
  });
}

function ids(generations: readonly Generation[]): string[] {
  return generations.map((g) => g.id);
}

/** A run's two writes: the claim, then the outcome, which indexes the generation by its volumes. */
async function claimWithOutcome(catalog: Catalog, generation: Generation): Promise<void> {
  expect(await catalog.claim({ ...generation, state: 'pending' })).toEqual({ claimed: true });
  await catalog.recordOutcome(generation);
}
