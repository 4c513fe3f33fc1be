import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AwsOperationError } from '#core/model/errors.ts';
import { type DrillHistory, type DrillRecord, DrillRecordSchema } from '#core/report/ports.ts';
import { catalogError } from './items.ts';
import { catalogKeys, catalogLayout } from './layout.ts';

/** The drills' outcomes in the catalog table (`layout.ts`: `DRILL#<target id>`), parsed at the boundary. */
export class DynamoDrillHistory implements DrillHistory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async lastDrill(targetId: string, atOrBefore: string): Promise<DrillRecord | undefined> {
    const { partitionKey, sortKey } = catalogLayout;
    let item: Record<string, unknown> | undefined;
    try {
      const response = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: '#p = :p AND #s <= :until',
          ExpressionAttributeNames: { '#p': partitionKey, '#s': sortKey },
          ExpressionAttributeValues: {
            ':p': catalogKeys.drills(targetId),
            ':until': catalogKeys.until(atOrBefore),
          },
          ScanIndexForward: false,
          Limit: 1,
        }),
      );
      item = response.Items?.[0];
    } catch (error) {
      throw catalogError('read drills', error);
    }
    if (!item) return undefined;
    const parsed = DrillRecordSchema.safeParse(item);
    if (parsed.success) return parsed.data;
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'the item'}: ${i.message}`);
    throw new AwsOperationError(
      'catalog: read drill',
      `item ${String(item[partitionKey])} ${String(item[sortKey])} is not a valid drill record (${problems.join('; ')}); fix or delete the item (the drill that wrote it writes a new one on its next run)`,
    );
  }
}
