import { describe, expect, it } from 'vitest';
import { AwsOperationError } from '#core/model/errors.ts';
import type { CopyRecord } from '#core/model/generation.ts';
import {
  aClaimed,
  aCopy,
  aDistinctGeneration,
  type ContractContext,
  stored,
} from './catalog-contract-kit.ts';

/** The catalog contract for revision-conditioned updates of a generation and of its copies. */
export function catalogUpdateContract(context: ContractContext): void {
  describe('updates', () => {
    it('sets the named fields, removes those undefined, and leaves the caller at the revision written', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, { heldBecause: 'legal hold' });
      const mine = { ...claimed, heldBecause: undefined, expiresAt: '2026-12-24T00:00:00.000Z' };
      await catalog.update(mine, ['heldBecause', 'expiresAt']);
      expect(mine.revision).toBe(1);
      await catalog.update({ ...mine, notes: ['second'] }, ['notes']);
      const after = await stored(catalog, claimed.id);
      expect(after).toMatchObject({ expiresAt: '2026-12-24T00:00:00.000Z', notes: ['second'], revision: 2 });
      expect(after.heldBecause).toBeUndefined();
    });

    it('writes an update made from a stale read onto the record as it is now, losing nothing', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog);
      const stale = await stored(catalog, claimed.id);
      await catalog.update({ ...stale, heldBecause: 'audit' }, ['heldBecause']);
      const late = { ...stale, expiresAt: '2027-01-01T00:00:00.000Z' };
      await catalog.update(late, ['expiresAt']);
      expect(late.revision).toBe(2);
      expect(await stored(catalog, claimed.id)).toMatchObject({
        heldBecause: 'audit',
        expiresAt: '2027-01-01T00:00:00.000Z',
        revision: 2,
      });
    });

    it('lands every one of five concurrent updates of different fields made from one read', async () => {
      const { catalog, racing, lostWrites } = context.subject;
      const claimed = await aClaimed(catalog);
      const read = await stored(catalog, claimed.id);
      const lostBefore = lostWrites();
      await Promise.all([
        racing.update({ ...read, heldBecause: 'legal hold' }, ['heldBecause']),
        racing.update({ ...read, notes: ['checked by hand'] }, ['notes']),
        racing.update({ ...read, expiresAt: '2026-12-01T00:00:00.000Z' }, ['expiresAt']),
        racing.update({ ...read, pruneStartedAt: '2026-11-22T00:00:00.000Z' }, ['pruneStartedAt']),
        racing.update({ ...read, amiId: 'ami-0123456789abcdef0' }, ['amiId']),
      ]);
      expect(lostWrites() - lostBefore).toBeGreaterThanOrEqual(4);
      expect(await stored(catalog, claimed.id)).toMatchObject({
        heldBecause: 'legal hold',
        notes: ['checked by hand'],
        expiresAt: '2026-12-01T00:00:00.000Z',
        pruneStartedAt: '2026-11-22T00:00:00.000Z',
        amiId: 'ami-0123456789abcdef0',
        revision: 5,
      });
    });

    it('refuses to update a deleted generation, whoever read it last, and one that does not exist', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog);
      const stale = await stored(catalog, claimed.id);
      await catalog.update({ ...stale, deletedAt: '2026-11-30T00:00:00.000Z' }, ['deletedAt']);
      const deleted = await stored(catalog, claimed.id);
      await expect(catalog.update({ ...stale, notes: ['late'] }, ['notes'])).rejects.toThrow(/is deleted/);
      await expect(catalog.update({ ...deleted, notes: ['late'] }, ['notes'])).rejects.toThrow(
        AwsOperationError,
      );
      expect(await catalog.get(claimed.id)).toEqual(deleted);
      const missing = aDistinctGeneration();
      await expect(catalog.update(missing, ['notes'])).rejects.toThrow(`no generation ${missing.id}`);
    });
  });

  describe('manifest marks', () => {
    it('marks a manifest stale, clears the mark only if it is the one set, and puts it in open work meanwhile', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, { deletedAt: '2026-11-30T00:00:00.000Z' });
      const open = async () => (await catalog.openGenerations()).map((g) => g.id);
      expect(await open()).not.toContain(claimed.id);
      await catalog.markManifest(claimed.id, { at: '2026-12-01T00:00:00.000Z' });
      expect(await open()).toContain(claimed.id);
      await catalog.markManifest(claimed.id, { clearIf: '2026-11-30T12:00:00.000Z' });
      expect((await stored(catalog, claimed.id)).manifestStaleAt).toBe('2026-12-01T00:00:00.000Z');
      await catalog.markManifest(claimed.id, { clearIf: '2026-12-01T00:00:00.000Z' });
      const after = await stored(catalog, claimed.id);
      expect(after.manifestStaleAt).toBeUndefined();
      expect(after.revision).toBe(2);
      expect(await open()).not.toContain(claimed.id);
      await catalog.markManifest(aDistinctGeneration().id, { at: '2026-12-01T00:00:00.000Z' });
    });
  });

  describe('copies', () => {
    it('adds, changes and leaves a copy, resolving with the generation as written or as read', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog);
      const written = await catalog.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
      expect(written).toEqual(await catalog.get(claimed.id));
      expect(written?.revision).toBe(1);
      const seen: (CopyRecord | undefined)[] = [];
      await catalog.updateCopy(claimed.id, 'ap-southeast-2', (current, generation) => {
        seen.push(current, ...generation.copies);
        return aCopy('ap-southeast-2', { state: 'pending' });
      });
      expect(seen).toEqual([undefined, aCopy('eu-west-1')]);
      const unchanged = await catalog.updateCopy(claimed.id, 'eu-west-1', () => undefined);
      expect(unchanged).toEqual(await catalog.get(claimed.id));
      expect(unchanged?.copies.map((c) => [c.region, c.state])).toEqual([
        ['eu-west-1', 'queued'],
        ['ap-southeast-2', 'pending'],
      ]);
      expect(unchanged?.revision).toBe(2);
      const none = aDistinctGeneration().id;
      expect(await catalog.updateCopy(none, 'eu-west-1', () => aCopy('eu-west-1'))).toBeUndefined();
      expect(await catalog.get(none)).toBeUndefined();
    });

    it('hands change a copy of the record, so a change that mutates its input writes nothing', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog);
      await catalog.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
      await catalog.updateCopy(claimed.id, 'eu-west-1', (current, generation) => {
        if (current) current.state = 'failed';
        generation.notes = ['mutated'];
        return undefined;
      });
      const after = await stored(catalog, claimed.id);
      expect(after.copies[0]?.state).toBe('queued');
      expect(after.notes).toBeUndefined();
    });

    it('calls change again with the fresh copy when another writer changed it first, landing both', async () => {
      const { catalog, racing, lostWrites } = context.subject;
      const claimed = await aClaimed(catalog);
      await catalog.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
      const lostBefore = lostWrites();
      const seen: number[] = [];
      const addNote = (note: string) => (current: CopyRecord | undefined) => {
        seen.push(current?.notes?.length ?? 0);
        return current && { ...current, notes: [...(current.notes ?? []), note] };
      };
      await Promise.all([
        racing.updateCopy(claimed.id, 'eu-west-1', addNote('one')),
        racing.updateCopy(claimed.id, 'eu-west-1', addNote('two')),
      ]);
      // Both read the copy without notes; the loser was called again with the winner's note in it.
      expect(seen.sort()).toEqual([0, 0, 1]);
      expect(lostWrites() - lostBefore).toBe(1);
      const after = await stored(catalog, claimed.id);
      expect(after.copies[0]?.notes?.sort()).toEqual(['one', 'two']);
      expect(after.revision).toBe(3);
    });

    it('lands copies to two Regions and an update of the primary made at once from one read', async () => {
      const { catalog, racing, lostWrites } = context.subject;
      const claimed = await aClaimed(catalog);
      const read = await stored(catalog, claimed.id);
      const lostBefore = lostWrites();
      await Promise.all([
        racing.updateCopy(claimed.id, 'eu-west-1', (c) => (c ? undefined : aCopy('eu-west-1'))),
        racing.updateCopy(claimed.id, 'ap-southeast-2', (c) => (c ? undefined : aCopy('ap-southeast-2'))),
        racing.update({ ...read, heldBecause: 'audit' }, ['heldBecause']),
      ]);
      expect(lostWrites() - lostBefore).toBeGreaterThanOrEqual(2);
      const after = await stored(catalog, claimed.id);
      expect(after.copies.map((c) => c.region).sort()).toEqual(['ap-southeast-2', 'eu-west-1']);
      expect(after).toMatchObject({ heldBecause: 'audit', revision: 3 });
    });

    it('still writes a copy after the primary snapshots were deleted', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, { deletedAt: '2026-12-01T01:00:00.000Z' });
      const written = await catalog.updateCopy(claimed.id, 'eu-west-1', () =>
        aCopy('eu-west-1', { state: 'completed', deletedAt: '2027-03-01T02:00:00.000Z' }),
      );
      expect(written?.copies[0]?.deletedAt).toBe('2027-03-01T02:00:00.000Z');
      expect(await catalog.get(claimed.id)).toEqual(written);
    });
  });
}
