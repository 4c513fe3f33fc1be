import {
  type AuditEntry,
  type Catalog,
  type ClaimResult,
  type GenerationQuery,
  OUTCOME_FIELDS,
} from '#core/model/catalog.ts';
import { AwsOperationError, OutcomeSupersededError } from '#core/model/errors.ts';
import {
  type CopyRecord,
  type Generation,
  type GenerationField,
  nextExpiry,
  outcomeSuperseded,
} from '#core/model/generation.ts';

/** One write a dry run would have made, in the order it would have made it. */
export interface WouldWrite {
  /** The port's call as AWS would see it: `catalog: update expiresAt`, `DeleteSnapshot`, `SendMessage`, ... */
  call: string;
  /** What it acts on: a generation id, a snapshot or AMI id, a copy slot key. */
  subject: string;
  region?: string;
}

/**
 * The catalog of a dry run: every read goes to the real catalog, every write is recorded and kept in memory
 * instead, and later reads in the same pass see what the pass itself would have written. So a dry run takes the
 * decisions a real pass would (retention's expiries reach the prune that follows, a hold reaches the report)
 * without one write reaching DynamoDB. Writes keep the catalog's contract (`Catalog`): revisions, a deleted record
 * refused, a late outcome superseded.
 */
export class DryRunCatalog implements Catalog {
  private readonly written = new Map<string, Generation>();
  /** Each written record as it was before the pass's first write to it. */
  private readonly originals = new Map<string, Generation>();

  constructor(
    private readonly base: Catalog,
    private readonly record: (write: WouldWrite) => void,
  ) {}

  async get(generationId: string): Promise<Generation | undefined> {
    const own = this.written.get(generationId);
    return own ? structuredClone(own) : this.base.get(generationId);
  }

  async openGenerations(limit?: number): Promise<Generation[]> {
    return this.overlay(await this.base.openGenerations(limit));
  }

  /** The expiry index as the pass's own writes would leave it: what they made due is in, what they deleted out. */
  async expiring(atOrBefore: string, limit = 500): Promise<Generation[]> {
    const read = this.overlay(await this.base.expiring(atOrBefore, limit));
    const due = (g: Generation) => {
      const at = nextExpiry(g);
      return at !== undefined && at <= atOrBefore;
    };
    const added = [...this.written.values()].filter((g) => due(g) && !read.some((r) => r.id === g.id));
    const key = (g: Generation) => `${nextExpiry(g)}#${g.id}`;
    return [...read.filter(due), ...added.map((g) => structuredClone(g))]
      .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
      .slice(0, limit);
  }

  async lineage(targetId: string, policy: string, schedule: string, query?: GenerationQuery) {
    return this.overlay(await this.base.lineage(targetId, policy, schedule, query));
  }

  async byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.overlay(await this.base.byTarget(targetId, query));
  }

  async byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.overlay(await this.base.byVolume(volumeId, query));
  }

  async byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.overlay(await this.base.byPolicy(policy, query));
  }

  async claim(generation: Generation): Promise<ClaimResult> {
    const existing = await this.get(generation.id);
    if (existing) return { claimed: false, existing };
    // As the catalog: a claim is revision 0, so the claimant's copy is current for its first write.
    this.put('catalog: claim', undefined, structuredClone(generation), false);
    return { claimed: true };
  }

  async takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    const current = await this.get(generation.id);
    if (!current || current.claimedAt !== previousClaimedAt || current.snapshots.length > 0) return false;
    if (!['pending', 'failed'].includes(current.state)) return false;
    const { claimedAt, consistency } = generation;
    this.put('catalog: take over', current, {
      ...current,
      claimedAt,
      consistency,
      state: 'pending',
      failure: undefined,
    });
    return true;
  }

  async recordOutcome(generation: Generation): Promise<void> {
    const current = await this.current(generation.id, 'record outcome');
    const stale = (generation.revision ?? 0) !== (current.revision ?? 0);
    const superseded = stale ? outcomeSuperseded(current, generation) : undefined;
    if (superseded) throw new OutcomeSupersededError(`record outcome: ${superseded}`);
    this.writeFields('record outcome', current, generation, OUTCOME_FIELDS);
  }

  async update(generation: Generation, fields: readonly GenerationField[]): Promise<void> {
    const operation = `update ${fields.join(', ')}`;
    this.writeFields(operation, await this.current(generation.id, operation), generation, fields);
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    const current = await this.current(generationId, 'record failure');
    this.put('catalog: record failure', current, {
      ...current,
      state: 'failed',
      consistency: 'failed',
      failure,
    });
  }

  async markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    const current = await this.get(generationId);
    if (!current || ('clearIf' in mark && current.manifestStaleAt !== mark.clearIf)) return;
    this.put('catalog: mark manifest', current, {
      ...current,
      manifestStaleAt: 'at' in mark ? mark.at : undefined,
    });
  }

  async updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    const current = await this.get(generationId);
    if (!current) return undefined;
    const index = current.copies.findIndex((c) => c.region === region);
    const changed = change(structuredClone(current.copies[index]), structuredClone(current));
    if (!changed) return current;
    const copies = index < 0 ? [...current.copies, changed] : current.copies.with(index, changed);
    return structuredClone(this.put(`catalog: update copy to ${region}`, current, { ...current, copies }));
  }

  async audit(entry: AuditEntry): Promise<void> {
    this.record({ call: 'catalog: audit', subject: entry.action });
  }

  /** The generations as the pass's own writes left them. */
  private overlay(generations: readonly Generation[]): Generation[] {
    return generations.map((g) => structuredClone(this.written.get(g.id) ?? g));
  }

  private async current(generationId: string, operation: string): Promise<Generation> {
    const current = await this.get(generationId);
    if (!current) throw new AwsOperationError(`catalog: ${operation}`, `no generation ${generationId}`);
    return current;
  }

  /** The named fields of `generation` onto the record as it is, never a deleted one, as the catalog writes them. */
  private writeFields(
    operation: string,
    current: Generation,
    generation: Generation,
    fields: readonly GenerationField[],
  ) {
    if (current.deletedAt) {
      throw new AwsOperationError(`catalog: ${operation}`, `generation ${generation.id} is deleted`);
    }
    const next: Record<string, unknown> = { ...current };
    for (const field of fields) if (field !== 'revision') next[field] = structuredClone(generation[field]);
    generation.revision = this.put(`catalog: ${operation}`, current, next as unknown as Generation).revision;
  }

  /** The record as it was before the pass wrote to it; undefined when the pass did not write it. */
  before(generationId: string): Generation | undefined {
    const original = this.originals.get(generationId);
    return original && structuredClone(original);
  }

  private put(call: string, current: Generation | undefined, next: Generation, bump = true): Generation {
    if (current && !this.originals.has(next.id)) this.originals.set(next.id, structuredClone(current));
    const revision = bump ? (next.revision ?? 0) + 1 : undefined;
    const stored = Object.fromEntries(
      Object.entries({ ...next, revision }).filter(([, v]) => v !== undefined),
    ) as unknown as Generation;
    this.written.set(next.id, stored);
    this.record({ call, subject: next.id });
    return stored;
  }
}
