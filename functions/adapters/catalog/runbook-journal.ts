import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RunbookJournal, RunbookRecord } from '#core/recovery/ports.ts';
import { catalogError } from './items.ts';
import { catalogKeys, catalogLayout } from './layout.ts';
import { isConditionFailure } from './writes.ts';

/**
 * Runbook requests in the catalog table, one item a request (`catalogKeys.runbookRequest`). Only PutItem and
 * GetItem: the runbooks' roles may put items under the audit prefix and nowhere else, and a put is conditioned
 * on the owner and lease the writer read, so two invocations never both carry a request out.
 */
export class DynamoRunbookJournal implements RunbookJournal {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(runbook: string, requestId: string): Promise<RunbookRecord | undefined> {
    try {
      const response = await this.db.send(
        new GetCommand({
          TableName: this.table,
          Key: catalogKeys.runbookRequest(runbook, requestId),
          ConsistentRead: true,
        }),
      );
      return response.Item ? recordOf(response.Item) : undefined;
    } catch (error) {
      throw catalogError('read runbook request', error);
    }
  }

  async begin(record: RunbookRecord): Promise<{ begun: true } | { begun: false; existing: RunbookRecord }> {
    const unwritten = {
      ConditionExpression: 'attribute_not_exists(#pk)',
      ExpressionAttributeNames: { '#pk': catalogLayout.partitionKey },
    };
    if (await this.put(record, unwritten)) return { begun: true };
    const existing = await this.get(record.runbook, record.requestId);
    if (!existing) throw catalogError('begin runbook request', new Error('refused, yet no request is there'));
    return { begun: false, existing };
  }

  save(record: RunbookRecord, held: { owner: string; leaseUntil: string }): Promise<boolean> {
    return this.put(record, {
      ConditionExpression: '#owner = :owner AND #leaseUntil = :leaseUntil',
      ExpressionAttributeNames: { '#owner': 'owner', '#leaseUntil': 'leaseUntil' },
      ExpressionAttributeValues: { ':owner': held.owner, ':leaseUntil': held.leaseUntil },
    });
  }

  /** One conditional put of the whole record; false when the condition did not hold. */
  private async put(
    record: RunbookRecord,
    condition: {
      ConditionExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues?: Record<string, string>;
    },
  ): Promise<boolean> {
    const Item = { ...catalogKeys.runbookRequest(record.runbook, record.requestId), ...record };
    try {
      await this.db.send(new PutCommand({ TableName: this.table, Item, ...condition }));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw catalogError('write runbook request', error);
    }
  }
}

function recordOf(item: Record<string, unknown>): RunbookRecord {
  const { [catalogLayout.partitionKey]: _pk, [catalogLayout.sortKey]: _sk, ...record } = item;
  return record as unknown as RunbookRecord;
}
