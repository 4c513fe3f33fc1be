import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import type { Config } from '../core/config.ts';
import { AwsOperationError } from '../core/errors.ts';
import { catalogIndexes, catalogLayout } from './catalog-layout.ts';
import type { AwsClients } from './clients.ts';

/** What `init` did to each resource. */
export interface SetupStep {
  resource: string;
  name: string;
  region: string;
  action: 'created' | 'exists';
}

/**
 * Creates the catalog table and the manifest bucket where they are missing, with the layout the CDK stack
 * gives them in AWS. For a local sandbox; in an account the stack owns both.
 */
export async function ensureSandbox(config: Config, clients: AwsClients): Promise<SetupStep[]> {
  const steps = [await ensureCatalogTable(config, clients)];
  if (config.manifests)
    steps.push(await ensureBucket(config.manifests.bucket, config.manifests.region, clients));
  return steps;
}

async function ensureCatalogTable(config: Config, clients: AwsClients): Promise<SetupStep> {
  const db = clients.dynamo(config.region);
  const TableName = config.catalog.table;
  const step = { resource: 'catalog table', name: TableName, region: config.region };
  try {
    await db.send(new DescribeTableCommand({ TableName }));
    return { ...step, action: 'exists' };
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw setupError('DescribeTable', error);
  }
  const { partitionKey, sortKey } = catalogLayout;
  try {
    await db.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          partitionKey,
          sortKey,
          ...catalogIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
        ].map((name) => ({
          AttributeName: name,
          AttributeType: 'S',
        })),
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: catalogIndexes.map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' },
            { AttributeName: index.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        })),
        SSESpecification: { Enabled: true },
      }),
    );
    await waitUntilTableExists({ client: db, maxWaitTime: 120 }, { TableName });
  } catch (error) {
    throw setupError('CreateTable', error);
  }
  return { ...step, action: 'created' };
}

async function ensureBucket(bucket: string, region: string, clients: AwsClients): Promise<SetupStep> {
  const s3 = clients.s3(region);
  const step = { resource: 'manifest bucket', name: bucket, region };
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return { ...step, action: 'exists' };
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw setupError('HeadBucket', error);
  }
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      }),
    );
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      }),
    );
    await s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
  } catch (error) {
    throw setupError('CreateBucket', error);
  }
  return { ...step, action: 'created' };
}

function setupError(operation: string, error: unknown): AwsOperationError {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(operation, detail, { cause: error });
}
