import type { CopyRecord, Generation } from '#core/model/generation.ts';
import type { WriteStep } from './writes.ts';

/**
 * What each of the catalog's record changes makes of a generation record as it stands: the record to write and
 * the fields that changed, or a result without writing. `DynamoCatalog` and the in-memory fake of the tests
 * both build their writes from these, so the two cannot disagree on what a change does; how it is written
 * (the revision condition, a retry on a lost race) is each one's own.
 */
export const recordChanges = {
  /** A failed or stalled claim with no snapshots, still as `previousClaimedAt` left it, claimed again. */
  takeOver(generation: Generation, previousClaimedAt: string): (current: Generation) => WriteStep<boolean> {
    return (current) => {
      const takeable =
        current.claimedAt === previousClaimedAt &&
        ['pending', 'failed'].includes(current.state) &&
        current.snapshots.length === 0;
      if (!takeable) return { result: false };
      const { claimedAt, consistency } = generation;
      const write = { ...current, claimedAt, consistency, state: 'pending' as const, failure: undefined };
      return { write, fields: ['claimedAt', 'state', 'consistency', 'failure'] };
    };
  },

  /** Failed, with its reason. It stays in the open-work index: retention still has to place it in its lineage. */
  failure(failure: string): (current: Generation) => WriteStep<void> {
    return (current) => ({
      write: { ...current, state: 'failed', consistency: 'failed', failure },
      fields: ['state', 'consistency', 'failure'],
    });
  },

  /** The manifest marked stale at a time, or the mark cleared if it is still the one set then. */
  manifestMark(mark: { at: string } | { clearIf: string }): (current: Generation) => WriteStep<void> {
    return (current) => {
      if ('clearIf' in mark && current.manifestStaleAt !== mark.clearIf) return { result: undefined };
      const manifestStaleAt = 'at' in mark ? mark.at : undefined;
      return { write: { ...current, manifestStaleAt }, fields: ['manifestStaleAt'] };
    };
  },

  /** The copy to `region` as `change` makes it from the copy held now (a deleted primary does not stop it);
   * no change resolves with the record as read. */
  copy(
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): (current: Generation) => WriteStep<Generation> {
    return (current) => {
      const index = current.copies.findIndex((c) => c.region === region);
      const copy = index < 0 ? undefined : current.copies[index];
      const changed = change(structuredClone(copy), structuredClone(current));
      if (!changed) return { result: current };
      const copies = index < 0 ? [...current.copies, changed] : current.copies.with(index, changed);
      return { write: { ...current, copies }, fields: ['copies'] };
    };
  },
};
