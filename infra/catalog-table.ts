import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { catalogIndexes, catalogLayout } from '#adapters/catalog/layout.ts';

/**
 * The catalog: the record of every generation, and so the only way to find, prune or restore a backup. Losing
 * it strands every snapshot, so it outlives the stack (retained, deletion-protected) and can be rewound
 * (point-in-time recovery). Keys and index come from `catalog-layout.ts`, shared with the adapter and `init`.
 */
export function createCatalogTable(scope: Construct, tableName: string): Table {
  const { partitionKey, sortKey } = catalogLayout;
  const table = new Table(scope, 'Catalog', {
    tableName,
    partitionKey: { name: partitionKey, type: AttributeType.STRING },
    sortKey: { name: sortKey, type: AttributeType.STRING },
    // Runs are bursty (a whole fleet at the top of the hour, then nothing); on-demand fits that and needs no tuning.
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  for (const index of catalogIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
      sortKey: { name: index.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.KEYS_ONLY,
    });
  }
  return table;
}
