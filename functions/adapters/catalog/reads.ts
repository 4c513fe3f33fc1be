import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
} from '@aws-sdk/lib-dynamodb';
import type { GenerationQuery } from '#core/model/catalog.ts';
import type { Generation } from '#core/model/generation.ts';
import { catalogError, toGeneration } from './items.ts';
import { type CatalogIndex, catalogKeys, catalogLayout, type ItemKey } from './layout.ts';
import { unlessEmpty, untilProcessed } from './retry.ts';

/**
 * The catalog's reads (`layout.ts` says what each partition holds): one record by key, a pointer partition newest
 * first, a sparse index in order, and the records of a list of ids in one BatchGet a hundred. Every item read
 * is parsed at the boundary (`toGeneration`).
 */
export class CatalogReads {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /** One generation record; writers read strongly consistent, since a stale read only loses its write. */
  async get(generationId: string, consistent: boolean): Promise<Generation | undefined> {
    try {
      const response = await this.db.send(
        new GetCommand({
          TableName: this.table,
          Key: catalogKeys.generation(generationId),
          ConsistentRead: consistent,
        }),
      );
      return response.Item ? toGeneration(response.Item) : undefined;
    } catch (error) {
      throw catalogError('read generation', error);
    }
  }

  /** The generations a pointer partition lists, newest first by `scheduledAt`. */
  async pointed(pk: string, query: GenerationQuery): Promise<Generation[]> {
    const { partitionKey, sortKey } = catalogLayout;
    const ids: string[] = [];
    try {
      const pages = paginateQuery(
        { client: this.db, pageSize: Math.min(query.limit ?? 100, 100) },
        {
          TableName: this.table,
          KeyConditionExpression: query.atOrBefore ? '#p = :p AND #s <= :until' : '#p = :p',
          ExpressionAttributeNames: { '#p': partitionKey, ...(query.atOrBefore ? { '#s': sortKey } : {}) },
          ExpressionAttributeValues: {
            ':p': pk,
            ...(query.atOrBefore ? { ':until': catalogKeys.until(query.atOrBefore) } : {}),
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
    return this.many(query.limit ? ids.slice(0, query.limit) : ids);
  }

  /** The generations in a sparse index, in sort-key order, up to `limit`, optionally up to a bound. */
  async indexed(index: CatalogIndex, limit: number, until?: string): Promise<Generation[]> {
    const ids: string[] = [];
    try {
      const pages = paginateQuery(
        { client: this.db, pageSize: Math.min(limit, 500) },
        {
          TableName: this.table,
          IndexName: index.name,
          KeyConditionExpression: until ? '#p = :p AND #s <= :until' : '#p = :p',
          ExpressionAttributeNames: { '#p': index.partitionKey, ...(until ? { '#s': index.sortKey } : {}) },
          ExpressionAttributeValues: { ':p': index.partition, ...(until ? { ':until': until } : {}) },
        },
      );
      for await (const page of pages) {
        for (const item of page.Items ?? []) {
          const id = catalogKeys.generationIdOf(item[catalogLayout.partitionKey]);
          if (id) ids.push(id);
        }
        if (ids.length >= limit) break;
      }
    } catch (error) {
      throw catalogError(`read the ${index.name} index`, error);
    }
    return this.many(ids.slice(0, limit));
  }

  /** The records of `ids`, in the order asked; an id without a record is left out. */
  private async many(ids: readonly string[]): Promise<Generation[]> {
    const found = new Map<string, Generation>();
    try {
      for (let i = 0; i < ids.length; i += 100) {
        await untilProcessed(ids.slice(i, i + 100).map(catalogKeys.generation), async (keys: ItemKey[]) => {
          const response = await this.db.send(
            new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys } } }),
          );
          for (const item of response.Responses?.[this.table] ?? []) {
            const generation = toGeneration(item);
            found.set(generation.id, generation);
          }
          return unlessEmpty(response.UnprocessedKeys?.[this.table]?.Keys as ItemKey[] | undefined);
        });
      }
    } catch (error) {
      throw catalogError('read generations', error);
    }
    return ids.map((id) => found.get(id)).filter((g): g is Generation => g !== undefined);
  }
}
