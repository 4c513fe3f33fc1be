import { randomUUID } from 'node:crypto';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
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
  outcomeSuperseded,
} from '#core/model/generation.ts';
import { recordChanges } from './changes.ts';
import { catalogError, generationItem } from './items.ts';
import { catalogKeys, catalogLayout } from './layout.ts';
import { CatalogReads } from './reads.ts';
import { unlessEmpty, untilProcessed } from './retry.ts';
import {
  fieldsWrite,
  type GenerationWrite,
  generationUpdate,
  isConditionFailure,
  landed,
  writeOptimistically,
} from './writes.ts';

/**
 * The generation catalog in one DynamoDB table, laid out as `layout.ts` says (the only file that knows the keys).
 *
 * Runs, reconcile and copy workers write one generation record concurrently, each some of its fields. The claim
 * writes it without a `revision` (revision 0); every later write sets `revision` one higher and is conditioned on
 * the revision its writer read, and a writer that lost reads the record again and writes its fields onto it
 * (`writes.ts`). Every write also sets the record's sparse index keys from the whole record as written.
 */
export class DynamoCatalog implements Catalog {
  private readonly reads: CatalogReads;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {
    this.reads = new CatalogReads(db, table);
  }

  async claim(generation: Generation): Promise<ClaimResult> {
    // Revision 0, so the claimant's copy of the record is current for its first write.
    const record = {
      Put: {
        TableName: this.table,
        Item: generationItem({ ...generation, revision: undefined }),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': catalogLayout.partitionKey },
      },
    };
    const pointers = catalogKeys.claimPointers(generation).map((pk) => this.pointer(pk, generation));
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: [record, ...pointers] }));
      return { claimed: true };
    } catch (error) {
      if (isConditionFailure(error)) {
        const existing = await this.get(generation.id);
        if (existing) return { claimed: false, existing };
      }
      throw catalogError('claim generation', error);
    }
  }

  takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    return this.write<boolean>({
      id: generation.id,
      operation: 'take over generation',
      missing: () => false,
      step: recordChanges.takeOver(generation, previousClaimedAt),
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
    const pointers = catalogKeys.volumePointers(generation).map((pk) => this.pointer(pk, generation));
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

  updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    // No deletedAt condition: a DR copy lives on under its own retention after the primary is deleted.
    return this.write<Generation | undefined>({
      id: generationId,
      operation: `update copy to ${region}`,
      missing: () => undefined,
      step: recordChanges.copy(region, change),
      written: (next) => next,
    });
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    await this.write({
      id: generationId,
      operation: 'record failure',
      missing: () => {
        throw new AwsOperationError('catalog: record failure', `no generation ${generationId}`);
      },
      step: recordChanges.failure(failure),
      written: () => undefined,
    });
  }

  async markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    await this.write<void>({
      id: generationId,
      operation: 'mark manifest',
      missing: () => undefined,
      step: recordChanges.manifestMark(mark),
      written: () => undefined,
    });
  }

  get(generationId: string): Promise<Generation | undefined> {
    return this.reads.get(generationId, false);
  }

  expiring(atOrBefore: string, limit = 500): Promise<Generation[]> {
    return this.reads.indexed(catalogLayout.expiryIndex, limit, catalogKeys.until(atOrBefore));
  }

  openGenerations(limit = 500): Promise<Generation[]> {
    return this.reads.indexed(catalogLayout.openWorkIndex, limit);
  }

  lineage(targetId: string, policy: string, schedule: string, query: GenerationQuery = {}) {
    return this.reads.pointed(catalogKeys.lineage(targetId, policy, schedule), query);
  }

  byTarget(targetId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.reads.pointed(catalogKeys.target(targetId), query);
  }

  byVolume(volumeId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.reads.pointed(catalogKeys.volume(volumeId), query);
  }

  byPolicy(policy: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.reads.pointed(catalogKeys.policy(policy), query);
  }

  /**
   * Writes whole generation records with every pointer, as claim and recordOutcome would have, in batches:
   * how a catalog is rebuilt from manifests, and how benchmarks load a long history. Overwrites records with
   * the same id, so an import can be repeated.
   */
  async importGenerations(generations: readonly Generation[]): Promise<void> {
    const items = generations.flatMap((generation) => [
      generationItem(generation),
      ...[...catalogKeys.claimPointers(generation), ...catalogKeys.volumePointers(generation)].map((pk) =>
        catalogKeys.pointer(pk, generation),
      ),
    ]);
    type Requests = NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>;
    try {
      for (let i = 0; i < items.length; i += 25) {
        const batch = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        await untilProcessed<Requests>({ [this.table]: batch }, async (requests) => {
          const response = await this.db.send(new BatchWriteCommand({ RequestItems: requests }));
          return unlessEmpty(response.UnprocessedItems as Requests | undefined);
        });
      }
    } catch (error) {
      throw catalogError('import generations', error);
    }
  }

  async audit(entry: AuditEntry): Promise<void> {
    try {
      const Item = { ...catalogKeys.audit(entry.at, randomUUID()), ...entry };
      await this.db.send(new PutCommand({ TableName: this.table, Item }));
    } catch (error) {
      throw catalogError('write audit entry', error);
    }
  }

  private pointer(pk: string, generation: Generation) {
    return { Put: { TableName: this.table, Item: catalogKeys.pointer(pk, generation) } };
  }

  /** One optimistic write of a generation record (`writeOptimistically`, `generationUpdate`), sent as one
   * UpdateItem unless `send` puts it in a transaction. */
  private async write<T>(write: GenerationWrite<T>): Promise<T> {
    const id = write.base?.id ?? write.id ?? '';
    const send = write.send ?? ((update) => this.db.send(new UpdateCommand(update)));
    try {
      return await writeOptimistically<T>({
        ...write,
        read: () => this.reads.get(id, true),
        send: (current, next, fields) =>
          landed(() => send(generationUpdate(this.table, current, next, fields, write.condition))),
      });
    } catch (error) {
      if (error instanceof OutcomeSupersededError) throw error;
      throw catalogError(write.operation, error);
    }
  }
}
