import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CopySlots, SlotRequest, SlotResult } from '#core/copies/ports.ts';
import { AwsOperationError } from '#core/model/errors.ts';
import { catalogKeys, catalogLayout } from './layout.ts';
import { isConditionFailure } from './writes.ts';

/**
 * The copy slots of each destination Region in the catalog table: one item a Region, `pk` `SLOTS#<region>`,
 * `sk` `SLOTS`, whose map `held` has one entry a slot, key → `{ holder, acquiredAt }`. One item makes the count
 * and the claim of a slot one conditional write: `size(held) < :limit AND attribute_not_exists(held.#key)`,
 * so two workers never both take the last slot, and a slot is keyed by the copy it is for, so a retried
 * message finds its own slot again. At the 20 or so slots a Region allows, the item stays far below
 * DynamoDB's 400 KB and the write rate far below one item's.
 *
 * Every condition on `held` starts with `attribute_exists(held)`: before the item exists, DynamoDB fails that
 * condition cleanly (and `size()` of a missing attribute makes moto answer HTTP 500), so the first acquire
 * in a Region creates the item with an empty map and tries again. moto evaluates `size()` of a map and nested
 * `held.#key` paths in conditions, updates and removes as DynamoDB does (test/integration/copy-catalog.test.ts).
 */
export class DynamoCopySlots implements CopySlots {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async acquire(request: SlotRequest): Promise<SlotResult> {
    const { region, key, holder, limit, now, staleAfterMs } = request;
    const mine = { holder, acquiredAt: now };
    try {
      // The common case first, without a read: the slot is free and the Region has room.
      if (await this.take(region, key, mine, { limit })) return 'acquired';
      // Each lost write means another worker changed the Region's slots; a few rounds settle it.
      for (let round = 0; round < 5; round++) {
        const held = await this.read(region);
        if (!held) {
          await this.createItem(region);
          if (await this.take(region, key, mine, { limit })) return 'acquired';
          continue;
        }
        const current = held.get(key);
        if (current?.holder === holder) return 'acquired';
        if (current) {
          if (Date.parse(now) - Date.parse(current.acquiredAt) < staleAfterMs) return 'busy';
          // Its holder stopped without releasing it: take it over, unless someone else just did.
          if (await this.take(region, key, mine, { previous: current })) return 'acquired';
          continue;
        }
        if (held.size >= limit) return 'full';
        if (await this.take(region, key, mine, { limit })) return 'acquired';
      }
      // Still contended after every round: as good as full for now; the caller waits and tries again.
      return 'full';
    } catch (error) {
      throw slotsError(`acquire copy slot in ${region}`, error);
    }
  }

  async release(region: string, keys: readonly string[]): Promise<void> {
    // Chunked to stay far below DynamoDB's 4 KB expression limit.
    for (let i = 0; i < keys.length; i += 25) {
      const chunk = keys.slice(i, i + 25);
      const names = Object.fromEntries(chunk.map((key, j) => [`#k${j}`, key]));
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: catalogKeys.slots(region),
            UpdateExpression: `REMOVE ${chunk.map((_, j) => `#held.#k${j}`).join(', ')}`,
            ConditionExpression: 'attribute_exists(#held)',
            ExpressionAttributeNames: { '#held': 'held', ...names },
          }),
        );
      } catch (error) {
        // No item: nothing was ever held in the Region, so there is nothing to free.
        if (isConditionFailure(error)) return;
        throw slotsError(`release copy slots in ${region}`, error);
      }
    }
  }

  async held(region: string): Promise<Map<string, { holder: string; acquiredAt: string }>> {
    try {
      return (await this.read(region)) ?? new Map();
    } catch (error) {
      throw slotsError(`read copy slots of ${region}`, error);
    }
  }

  /** Sets the slot to `mine` if it is free and the Region has room, or if `previous` still holds it. */
  private async take(
    region: string,
    key: string,
    mine: { holder: string; acquiredAt: string },
    when: { limit: number } | { previous: { holder: string; acquiredAt: string } },
  ): Promise<boolean> {
    const condition =
      'limit' in when
        ? {
            expression: 'size(#held) < :limit AND attribute_not_exists(#held.#k)',
            values: { ':limit': when.limit },
          }
        : {
            expression: '#held.#k.holder = :holder AND #held.#k.acquiredAt = :acquiredAt',
            values: { ':holder': when.previous.holder, ':acquiredAt': when.previous.acquiredAt },
          };
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: catalogKeys.slots(region),
          UpdateExpression: 'SET #held.#k = :mine',
          ConditionExpression: `attribute_exists(#held) AND ${condition.expression}`,
          ExpressionAttributeNames: { '#held': 'held', '#k': key },
          ExpressionAttributeValues: { ':mine': mine, ...condition.values },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async createItem(region: string): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...catalogKeys.slots(region), held: {} },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': catalogLayout.partitionKey },
        }),
      );
    } catch (error) {
      // Another worker created it first: just as good.
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async read(
    region: string,
  ): Promise<Map<string, { holder: string; acquiredAt: string }> | undefined> {
    const response = await this.db.send(
      new GetCommand({ TableName: this.table, Key: catalogKeys.slots(region), ConsistentRead: true }),
    );
    if (!response.Item) return undefined;
    const held = (response.Item.held ?? {}) as Record<string, { holder: string; acquiredAt: string }>;
    return new Map(
      Object.entries(held).map(([key, slot]) => [key, { holder: slot.holder, acquiredAt: slot.acquiredAt }]),
    );
  }
}

function slotsError(operation: string, error: unknown): AwsOperationError {
  if (error instanceof AwsOperationError) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(`copy slots: ${operation}`, detail, { cause: error });
}
