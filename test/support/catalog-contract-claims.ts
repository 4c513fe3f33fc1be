import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '#core/model/catalog.ts';
import { AwsOperationError } from '#core/model/errors.ts';
import {
  aClaimed,
  aCopy,
  aDistinctGeneration,
  type ContractContext,
  stored,
} from './catalog-contract-kit.ts';

/** The catalog contract for claims, takeovers, outcomes and the audit trail. */
export function catalogClaimContract(context: ContractContext): void {
  describe('claims and takeovers', () => {
    it('claims a generation once: a second claim of the id finds the first, unchanged', async () => {
      const { catalog } = context.subject;
      const generation = aDistinctGeneration({ state: 'pending', snapshots: [] });
      expect(await catalog.claim(generation)).toEqual({ claimed: true });
      const again = await catalog.claim({ ...generation, claimedAt: '2026-12-01T00:00:00.000Z' });
      expect(again).toEqual({ claimed: false, existing: generation });
      expect(await catalog.get(generation.id)).toEqual(generation);
    });

    it('stores a claim at revision 0, whatever revision the caller passed', async () => {
      const { catalog } = context.subject;
      const generation = aDistinctGeneration();
      await catalog.claim({ ...generation, revision: 7 });
      expect((await stored(catalog, generation.id)).revision).toBeUndefined();
    });

    it('takes over a failed claim with no snapshots once, only from the claim it saw, and clears the failure', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, {
        state: 'pending',
        snapshots: [],
        retentionAppliedAt: undefined,
      });
      await catalog.recordFailure(claimed.id, 'CreateSnapshots refused');
      const retry = { ...claimed, claimedAt: '2026-12-01T05:00:00.000Z', consistency: 'filesystem' as const };
      expect(await catalog.takeOver(retry, claimed.claimedAt)).toBe(true);
      const after = await stored(catalog, claimed.id);
      expect(after).toMatchObject({
        claimedAt: retry.claimedAt,
        state: 'pending',
        consistency: 'filesystem',
        revision: 2,
      });
      expect(after.failure).toBeUndefined();
      expect(await catalog.takeOver(retry, claimed.claimedAt)).toBe(false);
      expect(
        await catalog.takeOver({ ...retry, claimedAt: '2026-12-01T06:00:00.000Z' }, retry.claimedAt),
      ).toBe(true);
    });

    it('never takes over a claim that took snapshots or completed, nor one that does not exist', async () => {
      const { catalog } = context.subject;
      const withSnapshots = await aClaimed(catalog, { state: 'pending' });
      const completed = await aClaimed(catalog, { snapshots: [] });
      for (const claimed of [withSnapshots, completed]) {
        expect(
          await catalog.takeOver({ ...claimed, claimedAt: '2026-12-01T05:00:00.000Z' }, claimed.claimedAt),
        ).toBe(false);
        expect(await catalog.get(claimed.id)).toEqual(claimed);
      }
      const never = aDistinctGeneration();
      expect(await catalog.takeOver(never, never.claimedAt)).toBe(false);
      expect(await catalog.get(never.id)).toBeUndefined();
    });

    it('lets exactly one of two takeovers racing from one claim win', async () => {
      const { catalog, racing, lostWrites } = context.subject;
      const claimed = await aClaimed(catalog, {
        state: 'failed',
        snapshots: [],
        retentionAppliedAt: undefined,
      });
      const lostBefore = lostWrites();
      const results = await Promise.all(
        ['2026-12-01T05:00:00.000Z', '2026-12-01T05:00:01.000Z'].map((claimedAt) =>
          racing.takeOver({ ...claimed, claimedAt }, claimed.claimedAt),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(lostWrites() - lostBefore).toBe(1);
      expect(await stored(catalog, claimed.id)).toMatchObject({ state: 'pending', revision: 1 });
    });
  });

  describe('outcomes', () => {
    it('records the outcome fields, removing those absent, onto the record others wrote', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, {
        state: 'pending',
        failure: 'earlier failure',
        retentionAppliedAt: undefined,
      });
      await catalog.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
      await catalog.update({ ...claimed, expiresAt: '2026-12-24T00:00:00.000Z' }, ['expiresAt']);
      await catalog.recordOutcome({ ...claimed, state: 'completed', failure: undefined, notes: ['adopted'] });
      const after = await stored(catalog, claimed.id);
      expect(after).toMatchObject({
        state: 'completed',
        notes: ['adopted'],
        expiresAt: '2026-12-24T00:00:00.000Z',
      });
      expect(after.failure).toBeUndefined();
      expect(after.copies.map((c) => c.region)).toEqual(['eu-west-1']);
      expect(after.revision).toBe(3);
    });

    it('records a failure as failed consistency, and counts it as a write', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog, { state: 'pending', snapshots: [] });
      await catalog.recordFailure(claimed.id, 'no volumes left to snapshot');
      expect(await stored(catalog, claimed.id)).toMatchObject({
        state: 'failed',
        consistency: 'failed',
        failure: 'no volumes left to snapshot',
        revision: 1,
      });
    });

    it('refuses an outcome or a failure for a generation that is not in the catalog, naming it', async () => {
      const { catalog } = context.subject;
      const missing = aDistinctGeneration();
      await expect(catalog.recordOutcome(missing)).rejects.toThrow(AwsOperationError);
      await expect(catalog.recordOutcome(missing)).rejects.toThrow(`no generation ${missing.id}`);
      await expect(catalog.recordFailure(missing.id, 'x')).rejects.toThrow(`no generation ${missing.id}`);
      expect(await catalog.get(missing.id)).toBeUndefined();
    });

    it('never writes an outcome over a deleted generation', async () => {
      const { catalog } = context.subject;
      const claimed = await aClaimed(catalog);
      await catalog.update({ ...claimed, deletedAt: '2026-12-01T00:00:00.000Z' }, ['deletedAt']);
      const deleted = await stored(catalog, claimed.id);
      await expect(catalog.recordOutcome({ ...deleted, notes: ['late run'] })).rejects.toThrow(/is deleted/);
      expect(await catalog.get(claimed.id)).toEqual(deleted);
    });
  });

  describe('the audit trail', () => {
    it('keeps every entry, two at the same instant included, under the day it was made', async () => {
      const { catalog, auditsOn } = context.subject;
      const entry: AuditEntry = {
        at: '2026-11-30T23:59:59.000Z',
        action: 'restore-volume',
        actor: 'arn:aws:iam::123456789012:role/oncall',
        dryRun: false,
        request: { volumeId: 'vol-1' },
        result: { volumeId: 'vol-2' },
      };
      await catalog.audit(entry);
      await catalog.audit({ ...entry, dryRun: true });
      await catalog.audit({ ...entry, at: '2026-12-01T00:00:00.000Z' });
      const day = await auditsOn('2026-11-30');
      expect(day).toHaveLength(2);
      expect(day).toContainEqual(entry);
      expect(day).toContainEqual({ ...entry, dryRun: true });
      expect(await auditsOn('2026-12-01')).toEqual([{ ...entry, at: '2026-12-01T00:00:00.000Z' }]);
    });
  });
}
