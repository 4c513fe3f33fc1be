import { recordChanges } from '#adapters/catalog/changes.ts';
import { catalogKeys } from '#adapters/catalog/layout.ts';
import { WRITE_ATTEMPTS } from '#adapters/catalog/writes.ts';
import {
  type AuditEntry,
  type Catalog,
  type ClaimResult,
  type GenerationQuery,
  OUTCOME_FIELDS,
} from '#core/model/catalog.ts';
import { AwsOperationError, OutcomeSupersededError, WriteConflictError } from '#core/model/errors.ts';
import {
  type CopyRecord,
  type Generation,
  type GenerationField,
  hasOpenWork,
  nextExpiry,
  outcomeSuperseded,
} from '#core/model/generation.ts';
import { Faults } from './fakes.ts';

type CatalogRequests = {
  claim: Generation;
  takeOver: Generation;
  recordOutcome: Generation;
  recordFailure: { generationId: string; failure: string };
  update: Generation;
  updateCopy: { generationId: string; region: string };
  markManifest: { generationId: string; mark: { at: string } | { clearIf: string } };
  get: string;
  audit: AuditEntry;
};

/** One write: what it makes of the record as it stands (the record to write, or a result without writing), and
 * what it resolves with when there is no record or once it is written. */
interface FakeWrite<T> {
  step(current: Generation): { write: Generation } | { result: T };
  missing(): T;
  written(next: Generation): T;
}

/**
 * The catalog as `DynamoCatalog` keeps it: one record per generation, plus pointers listed newest first. It keeps
 * the adapter's contract, which test/support/catalog-contract.ts checks on both: every write bumps the
 * revision and yields between reading the record and writing it, as a request in flight does, and a writer
 * that finds the record changed meanwhile builds its change again on the record as it is now.
 */
export class FakeCatalog implements Catalog {
  private readonly records = new Map<string, Generation>();
  /** Pointer partition → sort key → generation id, keyed as the adapter's (`layout.ts`). */
  private readonly pointers = new Map<string, Map<string, string>>();
  readonly audits: AuditEntry[] = [];
  readonly faults = new Faults<CatalogRequests>();
  /** Writes that found the record changed since they read it, and were built again on the fresh record. */
  lostWrites = 0;

  /** Writes whole generations as the run and reconcile would have (`importGenerations`), pointers included. */
  seed(...generations: Generation[]): this {
    for (const generation of generations) {
      this.records.set(generation.id, structuredClone(generation));
      this.pointClaim(generation);
      this.pointVolumes(generation);
    }
    return this;
  }

  all(): Generation[] {
    return [...this.records.values()].map((g) => structuredClone(g));
  }

  async claim(generation: Generation): Promise<ClaimResult> {
    await this.faults.before('claim', generation);
    const existing = this.records.get(generation.id);
    if (existing) return { claimed: false, existing: structuredClone(existing) };
    // As the adapter: a claim is revision 0 (no `revision`), pointed at by its targets, policy and lineage.
    const { revision: _none, ...claimed } = structuredClone(generation);
    this.records.set(generation.id, claimed);
    this.pointClaim(generation);
    await this.faults.after('claim', generation);
    return { claimed: true };
  }

  async takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    await this.faults.before('takeOver', generation);
    return this.write<boolean>(generation.id, 'take over generation', {
      missing: () => false,
      step: recordChanges.takeOver(generation, previousClaimedAt),
      written: () => true,
    });
  }

  async recordOutcome(generation: Generation): Promise<void> {
    await this.faults.before('recordOutcome', generation);
    await this.writeFields('record outcome', generation, OUTCOME_FIELDS, (current) => {
      // As the adapter, which checks the record it re-read when its writer built on an older revision.
      const stale = (generation.revision ?? 0) !== (current.revision ?? 0);
      const superseded = stale ? outcomeSuperseded(current, generation) : undefined;
      if (superseded) throw new OutcomeSupersededError(`record outcome: ${superseded}`);
    });
    this.pointVolumes(generation);
  }

  async update(generation: Generation, fields: readonly GenerationField[]): Promise<void> {
    await this.faults.before('update', generation);
    await this.writeFields(`update ${fields.join(', ')}`, generation, fields);
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    await this.faults.before('recordFailure', { generationId, failure });
    await this.write<void>(generationId, 'record failure', {
      missing: missing(generationId, 'record failure'),
      step: recordChanges.failure(failure),
      written: () => undefined,
    });
  }

  async markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    await this.faults.before('markManifest', { generationId, mark });
    await this.write<void>(generationId, 'mark manifest', {
      missing: () => undefined,
      step: recordChanges.manifestMark(mark),
      written: () => undefined,
    });
  }

  /** As the adapter's: `change` sees the copy as held now; a deleted primary does not stop it. */
  async updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    await this.faults.before('updateCopy', { generationId, region });
    return this.write<Generation | undefined>(generationId, `update copy to ${region}`, {
      missing: () => undefined,
      step: recordChanges.copy(region, change),
      written: (next) => next,
    });
  }

  async get(generationId: string): Promise<Generation | undefined> {
    await this.faults.before('get', generationId);
    const found = this.records.get(generationId);
    return found && structuredClone(found);
  }

  /** As the adapter's open-work index: sorted by `<scheduledAt>#<id>`, oldest first. */
  async openGenerations(limit = 500): Promise<Generation[]> {
    await Promise.resolve();
    return this.indexed((g) => (hasOpenWork(g) ? g.scheduledAt : undefined), limit);
  }

  /** As the adapter's expiry index: by the soonest expiry of the primary or any copy (`nextExpiry`). */
  async expiring(atOrBefore: string, limit = 500): Promise<Generation[]> {
    await Promise.resolve();
    return this.indexed(nextExpiry, limit, catalogKeys.until(atOrBefore));
  }

  lineage(
    targetId: string,
    policy: string,
    schedule: string,
    query?: GenerationQuery,
  ): Promise<Generation[]> {
    return this.list(catalogKeys.lineage(targetId, policy, schedule), query);
  }

  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(catalogKeys.target(targetId), query);
  }

  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(catalogKeys.volume(volumeId), query);
  }

  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(catalogKeys.policy(policy), query);
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.faults.before('audit', entry);
    this.audits.push(structuredClone(entry));
  }

  /**
   * The adapter's `fieldsWrite`: the named fields (set when defined, removed when not) onto the record as it is,
   * never a deleted one, nor one that does not exist; the caller's record then stands at the revision written.
   */
  private async writeFields(
    operation: string,
    generation: Generation,
    fields: readonly GenerationField[],
    guard?: (current: Generation) => void,
  ) {
    await this.write<void>(generation.id, operation, {
      missing: missing(generation.id, operation),
      step: (current) => {
        guard?.(current);
        if (current.deletedAt)
          throw new AwsOperationError(`catalog: ${operation}`, `generation ${generation.id} is deleted`);
        const write: Record<string, unknown> = { ...current };
        for (const field of fields)
          if (field !== 'revision') write[field] = structuredClone(generation[field]);
        return { write: write as unknown as Generation };
      },
      written: (next) => {
        generation.revision = next.revision;
      },
    });
  }

  /** One optimistic write (see the class comment), shaped as the adapter's `writeOptimistically`. */
  private async write<T>(id: string, operation: string, write: FakeWrite<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const read = this.records.get(id);
      if (!read) return write.missing();
      const step = write.step(structuredClone(read));
      if ('result' in step) return step.result;
      await Promise.resolve(); // the write is in flight: another writer may land first
      if (this.records.get(id)?.revision === read.revision) {
        const next = { ...withoutUndefined(step.write), revision: (read.revision ?? 0) + 1 };
        this.records.set(id, next);
        return write.written(structuredClone(next));
      }
      this.lostWrites += 1;
      if (attempt >= WRITE_ATTEMPTS) throw new WriteConflictError(operation, id, WRITE_ATTEMPTS);
    }
  }

  private indexed(
    key: (generation: Generation) => string | undefined,
    limit: number,
    until?: string,
  ): Generation[] {
    return [...this.records.values()]
      .flatMap((g) => {
        const at = key(g);
        return at === undefined ? [] : [{ g, sk: `${at}#${g.id}` }];
      })
      .filter(({ sk }) => until === undefined || sk <= until)
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0))
      .slice(0, limit)
      .map(({ g }) => structuredClone(g));
  }

  private async list(pk: string, query: GenerationQuery = {}): Promise<Generation[]> {
    await Promise.resolve();
    // Same bound as the adapter's `sk <= <atOrBefore>#\uffff`: a generation exactly at `atOrBefore` is included.
    const until = query.atOrBefore ? catalogKeys.until(query.atOrBefore) : undefined;
    const ids = [...(this.pointers.get(pk) ?? new Map<string, string>()).entries()]
      .filter(([sk]) => until === undefined || sk <= until)
      .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
      .map(([, id]) => id);
    return (query.limit ? ids.slice(0, query.limit) : ids).flatMap((id) => {
      const found = this.records.get(id);
      return found ? [structuredClone(found)] : [];
    });
  }

  private point(pk: string, generation: Generation): void {
    const { sk, id } = catalogKeys.pointer(pk, generation) as { sk: string; id: string };
    const partition = this.pointers.get(pk) ?? new Map<string, string>();
    partition.set(sk, id);
    this.pointers.set(pk, partition);
  }

  /** The pointers `claim` writes, and those `recordOutcome` adds (`layout.ts`, as the adapter writes them). */
  private pointClaim(generation: Generation): void {
    for (const pk of catalogKeys.claimPointers(generation)) this.point(pk, generation);
  }

  private pointVolumes(generation: Generation): void {
    for (const pk of catalogKeys.volumePointers(generation)) this.point(pk, generation);
  }
}

function missing(id: string, operation: string): () => never {
  return () => {
    throw new AwsOperationError(`catalog: ${operation}`, `no generation ${id}`);
  };
}

/** As DynamoDB stores it: an attribute set to undefined is removed. */
function withoutUndefined(generation: Generation): Generation {
  return Object.fromEntries(
    Object.entries(generation).filter(([, v]) => v !== undefined),
  ) as unknown as Generation;
}
