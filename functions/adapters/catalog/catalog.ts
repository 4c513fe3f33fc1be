import { randomUUID } from 'node:crypto';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AuditEntry, Catalog, ClaimResult, GenerationQuery } from '#core/model/catalog.ts';
import { AwsOperationError, OutcomeSupersededError } from '#core/model/errors.ts';
import {
  type CopyRecord,
  type Generation,
  type GenerationField,
  hasOpenWork,
  nextExpiry,
  outcomeSuperseded,
} from '#core/model/generation.ts';
import { catalogLayout } from './layout.ts';
import {
  fieldsWrite,
  type GenerationWrite,
  isConditionFailure,
  revisionUpdate,
  writeOptimistically,
} from './writes.ts';

/**
 * The generation catalog in one DynamoDB table. This file is the only code that knows its keys.
 *
 * | item | pk | sk | written |
 * |---|---|---|---|
 * | generation (the one record of truth) | `GEN#<id>` | `GEN` | claim, then updated in place, each write conditioned on `revision` |
 * | pointer by target | `TARGET#<instance or volume id>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by policy | `POLICY#<policy>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by lineage | `LINEAGE#<target id>#<policy>#<schedule>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by source volume | `VOLUME#<volume id>` | `<scheduledAt>#<id>` | with the snapshots |
 * | audit entry | `AUDIT#<yyyy-mm-dd>` | `<at>#<uuid>` | by runbooks |
 * | copy slots of a destination Region | `SLOTS#<region>` | `SLOTS` | by copy workers (`copy-slots.ts`) |
 *
 * Pointers never change after they are written, so a listing is one Query over a pointer partition, newest
 * first, then one BatchGet of the generation records: no scans, and the items read per query depend on the
 * page asked for, not on the length of the history. Every pointer sorts by `scheduledAt`, which is part of the
 * run's identity, so two deliveries of one run that both record it write the same pointer, never two.
 * ISO-8601 times from `toISOString()` have a fixed width, so they sort as strings.
 *
 * Runs, reconcile and copy workers write one generation record concurrently, each some of its fields. The
 * claim writes it without a `revision` (revision 0); every later write sets `revision` one higher and is
 * conditioned on the revision its writer read, and a writer that lost reads the record again and writes its
 * fields onto it (`catalog-writes.ts`). While a generation still has work to do (`hasOpenWork`, its copies
 * included) it carries `openPk`/`openSk`, which puts it in the sparse `open-work` index that reconcile reads;
 * while it or a copy of it has an expiry and is not deleted (`nextExpiry`) it carries `expiryPk`/`expirySk`
 * (`<soonest expiry>#<id>`), which puts it in the sparse `expiry` index that pruning reads. Both are derived
 * from the whole record as each write leaves it, never set on their own, so no writer leaves stale index keys.
 */
export class DynamoCatalog implements Catalog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async claim(generation: Generation): Promise<ClaimResult> {
    const pointer = (pk: string) => ({
      Put: {
        TableName: this.table,
        Item: { pk, sk: `${generation.scheduledAt}#${generation.id}`, id: generation.id },
      },
    });
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                // Revision 0, so the claimant's copy of the record is current for its first write.
                Item: this.generationItem({ ...generation, revision: undefined }),
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            ...[generation.target.id, ...(generation.target.members ?? [])].map((id) =>
              pointer(`TARGET#${id}`),
            ),
            pointer(`POLICY#${generation.policy}`),
            pointer(lineageKey(generation.target.id, generation.policy, generation.schedule)),
          ],
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (isConditionFailure(error)) {
        const existing = await this.get(generation.id);
        if (existing) return { claimed: false, existing };
      }
      throw catalogError('claim generation', error);
    }
  }

  async takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    return this.write<boolean>({
      id: generation.id,
      operation: 'take over generation',
      missing: () => false,
      step: (current) => {
        const takeable =
          current.claimedAt === previousClaimedAt &&
          ['pending', 'failed'].includes(current.state) &&
          current.snapshots.length === 0;
        if (!takeable) return { result: false };
        const { claimedAt, consistency } = generation;
        const write = { ...current, claimedAt, consistency, state: 'pending' as const, failure: undefined };
        return { write, fields: ['claimedAt', 'state', 'consistency', 'failure'] };
      },
      // Checked on the record read too; here it holds against a writer between that read and this write.
      condition: {
        expression:
          '#claimedAt = :previous AND #state IN (:wasPending, :wasFailed) AND size(#snapshots) = :zero',
        names: { '#claimedAt': 'claimedAt', '#state': 'state', '#snapshots': 'snapshots' },
        values: {
          ':previous': previousClaimedAt,
          ':wasPending': 'pending',
          ':wasFailed': 'failed',
          ':zero': 0,
        },
      },
      written: () => true,
    });
  }

  async recordOutcome(generation: Generation): Promise<void> {
    const pointers = [...new Set(generation.snapshots.map((s) => s.volumeId))].map((volumeId) => ({
      Put: {
        TableName: this.table,
        Item: {
          pk: `VOLUME#${volumeId}`,
          sk: `${generation.scheduledAt}#${generation.id}`,
          id: generation.id,
        },
      },
    }));
    const write = fieldsWrite('record outcome', generation, OUTCOME_FIELDS);
    await this.write({
      ...write,
      // Re-read after another writer won: a late outcome never replaces a newer claim or a completed record.
      step: (current, fresh) => {
        const superseded = fresh ? outcomeSuperseded(current, generation) : undefined;
        if (superseded) throw new OutcomeSupersededError(`record outcome: ${superseded}`);
        return write.step(current, fresh);
      },
      send: (update) =>
        this.db.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, ...pointers] })),
    });
  }

  async update(generation: Generation, fields: readonly GenerationField[]): Promise<void> {
    await this.write(fieldsWrite(`update ${fields.join(', ')}`, generation, fields));
  }

  async updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    // No deletedAt condition: a DR copy lives on under its own retention after the primary is deleted.
    return this.write<Generation | undefined>({
      id: generationId,
      operation: `update copy to ${region}`,
      missing: () => undefined,
      step: (current) => {
        const index = current.copies.findIndex((c) => c.region === region);
        const copy = index < 0 ? undefined : current.copies[index];
        const changed = change(structuredClone(copy), structuredClone(current));
        if (!changed) return { result: current };
        const copies = index < 0 ? [...current.copies, changed] : current.copies.with(index, changed);
        return { write: { ...current, copies }, fields: ['copies'] };
      },
      written: (next) => next,
    });
  }

  async expiring(atOrBefore: string, limit = 500): Promise<Generation[]> {
    return this.getMany(
      await this.indexIds(catalogLayout.expiryIndex, 'EXPIRY', limit, `${atOrBefore}#\uffff`),
    );
  }

  lineage(
    targetId: string,
    policy: string,
    schedule: string,
    query: GenerationQuery = {},
  ): Promise<Generation[]> {
    return this.listPointers(lineageKey(targetId, policy, schedule), query);
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    await this.write({
      id: generationId,
      operation: 'record failure',
      missing: () => {
        throw new AwsOperationError('catalog: record failure', `no generation ${generationId}`);
      },
      // It stays in the open-work index: retention still has to place it in its lineage.
      step: (current) => ({
        write: { ...current, state: 'failed', consistency: 'failed', failure },
        fields: ['state', 'consistency', 'failure'],
      }),
      written: () => undefined,
    });
  }

  async markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    await this.write<void>({
      id: generationId,
      operation: 'mark manifest',
      missing: () => undefined,
      step: (current) => {
        if ('clearIf' in mark && current.manifestStaleAt !== mark.clearIf) return { result: undefined };
        const manifestStaleAt = 'at' in mark ? mark.at : undefined;
        return { write: { ...current, manifestStaleAt }, fields: ['manifestStaleAt'] };
      },
      written: () => undefined,
    });
  }

  get(generationId: string): Promise<Generation | undefined> {
    return this.read(generationId, false);
  }

  /** Writers read strongly consistent: a stale read would only lose its conditional write and read again. */
  private async read(generationId: string, consistent = true): Promise<Generation | undefined> {
    try {
      const response = await this.db.send(
        new GetCommand({
          TableName: this.table,
          Key: generationKey(generationId),
          ConsistentRead: consistent,
        }),
      );
      return response.Item ? toGeneration(response.Item) : undefined;
    } catch (error) {
      throw catalogError('read generation', error);
    }
  }

  /**
   * One optimistic write of a generation record (`writeOptimistically`): the fields a step changed and both
   * index keys, derived from the whole record as written, conditioned on the record existing, on the revision
   * the step built on, and on `condition`. Sent as one UpdateItem unless `send` puts it in a transaction.
   */
  private async write<T>(write: GenerationWrite<T>): Promise<T> {
    const id = write.base?.id ?? write.id ?? '';
    const key = generationKey(id);
    try {
      return await writeOptimistically<T>({
        ...write,
        read: () => this.read(id),
        send: async (current, next, fields) => {
          const attributes: Record<string, unknown> = {};
          for (const field of fields) attributes[field] = next[field];
          Object.assign(attributes, indexKeys(next));
          const update = {
            TableName: this.table,
            Key: key,
            ...revisionUpdate(
              attributes,
              { expected: current.revision, next: next.revision ?? 0 },
              {
                expression: ['attribute_exists(#pk)', write.condition?.expression]
                  .filter(Boolean)
                  .join(' AND '),
                names: { '#pk': catalogLayout.partitionKey, ...write.condition?.names },
                values: write.condition?.values,
              },
            ),
          };
          try {
            await (write.send ? write.send(update) : this.db.send(new UpdateCommand(update)));
            return true;
          } catch (error) {
            if (isConditionFailure(error)) return false;
            throw error;
          }
        },
      });
    } catch (error) {
      if (error instanceof AwsOperationError || error instanceof OutcomeSupersededError) throw error;
      throw catalogError(write.operation, error);
    }
  }

  async openGenerations(limit = 500): Promise<Generation[]> {
    return this.getMany(await this.indexIds(catalogLayout.openWorkIndex, 'OPEN', limit));
  }

  /** Generation ids from a sparse index partition, in sort-key order, optionally up to a bound. */
  private async indexIds(
    index: { name: string; partitionKey: string; sortKey: string },
    partition: string,
    limit: number,
    until?: string,
  ): Promise<string[]> {
    const ids: string[] = [];
    try {
      const pages = paginateQuery(
        { client: this.db, pageSize: Math.min(limit, 500) },
        {
          TableName: this.table,
          IndexName: index.name,
          KeyConditionExpression: until ? '#p = :p AND #s <= :until' : '#p = :p',
          ExpressionAttributeNames: { '#p': index.partitionKey, ...(until ? { '#s': index.sortKey } : {}) },
          ExpressionAttributeValues: { ':p': partition, ...(until ? { ':until': until } : {}) },
        },
      );
      for await (const page of pages) {
        ids.push(...(page.Items ?? []).map((item) => String(item.pk).slice('GEN#'.length)));
        if (ids.length >= limit) break;
      }
    } catch (error) {
      throw catalogError(`read the ${index.name} index`, error);
    }
    return ids.slice(0, limit);
  }

  byTarget(targetId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.listPointers(`TARGET#${targetId}`, query);
  }

  byVolume(volumeId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.listPointers(`VOLUME#${volumeId}`, query);
  }

  byPolicy(policy: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.listPointers(`POLICY#${policy}`, query);
  }

  /**
   * Writes whole generation records with every pointer, as claim and recordOutcome would have, in batches:
   * how a catalog is rebuilt from manifests, and how benchmarks load a long history. Overwrites records with
   * the same id, so an import can be repeated.
   */
  async importGenerations(generations: readonly Generation[]): Promise<void> {
    const items = generations.flatMap((generation) => {
      const sk = `${generation.scheduledAt}#${generation.id}`;
      const pointers = [
        ...[generation.target.id, ...(generation.target.members ?? [])].map((id) => `TARGET#${id}`),
        `POLICY#${generation.policy}`,
        lineageKey(generation.target.id, generation.policy, generation.schedule),
        ...new Set(generation.snapshots.map((s) => `VOLUME#${s.volumeId}`)),
      ];
      return [this.generationItem(generation), ...pointers.map((pk) => ({ pk, sk, id: generation.id }))];
    });
    try {
      for (let i = 0; i < items.length; i += 25) {
        let requests: BatchWriteCommandInput['RequestItems'] = {
          [this.table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
        };
        for (let attempt = 0; requests && Object.keys(requests).length > 0; attempt++) {
          if (attempt > 0)
            await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
          const response: BatchWriteCommandOutput = await this.db.send(
            new BatchWriteCommand({ RequestItems: requests }),
          );
          requests = response.UnprocessedItems;
        }
      }
    } catch (error) {
      throw catalogError('import generations', error);
    }
  }

  async audit(entry: AuditEntry): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `${catalogLayout.auditPrefix}${entry.at.slice(0, 10)}`,
            sk: `${entry.at}#${randomUUID()}`,
            ...entry,
          },
        }),
      );
    } catch (error) {
      throw catalogError('write audit entry', error);
    }
  }

  private async listPointers(pk: string, query: GenerationQuery): Promise<Generation[]> {
    const ids: string[] = [];
    try {
      const pages = paginateQuery(
        { client: this.db, pageSize: Math.min(query.limit ?? 100, 100) },
        {
          TableName: this.table,
          KeyConditionExpression: query.atOrBefore ? 'pk = :pk AND sk <= :until' : 'pk = :pk',
          ExpressionAttributeValues: {
            ':pk': pk,
            // '#' then U+FFFF sorts after every id, so a generation taken exactly at `atOrBefore` is included.
            ...(query.atOrBefore ? { ':until': `${query.atOrBefore}#\uffff` } : {}),
          },
          ScanIndexForward: false,
        },
      );
      for await (const page of pages) {
        ids.push(...(page.Items ?? []).map((item) => String(item.id)));
        if (query.limit && ids.length >= query.limit) break;
      }
    } catch (error) {
      throw catalogError('list generations', error);
    }
    return this.getMany(query.limit ? ids.slice(0, query.limit) : ids);
  }

  /** BatchGet in chunks of 100, retrying unprocessed keys, returned in the order asked. */
  private async getMany(ids: readonly string[]): Promise<Generation[]> {
    const found = new Map<string, Generation>();
    try {
      for (let i = 0; i < ids.length; i += 100) {
        let keys: Record<string, unknown>[] | undefined = ids.slice(i, i + 100).map(generationKey);
        for (let attempt = 0; keys && keys.length > 0; attempt++) {
          if (attempt > 0)
            await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
          const response: BatchGetCommandOutput = await this.db.send(
            new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys } } }),
          );
          for (const item of response.Responses?.[this.table] ?? [])
            found.set(String(item.id), toGeneration(item));
          keys = response.UnprocessedKeys?.[this.table]?.Keys;
        }
      }
    } catch (error) {
      throw catalogError('read generations', error);
    }
    return ids.map((id) => found.get(id)).filter((g): g is Generation => g !== undefined);
  }

  private generationItem(generation: Generation): Record<string, unknown> {
    const item: Record<string, unknown> = {
      ...generationKey(generation.id),
      ...generation,
      ...indexKeys(generation),
    };
    for (const key of Object.keys(item)) if (item[key] === undefined) delete item[key];
    return item;
  }
}

/** What a run or reconcile establishes about a generation (`recordOutcome`). */
const OUTCOME_FIELDS: readonly GenerationField[] = [
  'snapshots',
  'takenAt',
  'state',
  'consistency',
  'amiId',
  'freezeWindowMs',
  'failure',
  'notes',
];

/**
 * The sparse index keys a generation carries, derived from the whole record on every write: in open-work
 * while it or a copy has work to do, in expiry, by its soonest expiry, while it or a copy has an expiry and is
 * not deleted; undefined (removed) otherwise.
 */
function indexKeys(generation: Generation): Record<string, string | undefined> {
  const { openWorkIndex, expiryIndex } = catalogLayout;
  const open = hasOpenWork(generation);
  const expiry = nextExpiry(generation);
  return {
    [openWorkIndex.partitionKey]: open ? 'OPEN' : undefined,
    [openWorkIndex.sortKey]: open ? `${generation.scheduledAt}#${generation.id}` : undefined,
    [expiryIndex.partitionKey]: expiry ? 'EXPIRY' : undefined,
    [expiryIndex.sortKey]: expiry ? `${expiry}#${generation.id}` : undefined,
  };
}

function lineageKey(targetId: string, policy: string, schedule: string): string {
  return `LINEAGE#${targetId}#${policy}#${schedule}`;
}

function generationKey(id: string): Record<string, string> {
  return { [catalogLayout.partitionKey]: `GEN#${id}`, [catalogLayout.sortKey]: 'GEN' };
}

function toGeneration(item: Record<string, unknown>): Generation {
  const {
    pk: _pk,
    sk: _sk,
    openPk: _openPk,
    openSk: _openSk,
    expiryPk: _expiryPk,
    expirySk: _expirySk,
    ...generation
  } = item;
  return generation as unknown as Generation;
}

function catalogError(operation: string, error: unknown): AwsOperationError {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(`catalog: ${operation}`, detail, { cause: error });
}
