import { randomBytes } from 'node:crypto';
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
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ParameterAlreadyExists, PutParameterCommand } from '@aws-sdk/client-ssm';
import { catalogIndexes, catalogLayout } from '#adapters/catalog/layout.ts';
import type { AwsClients } from '#adapters/clients.ts';
import { sandboxMarkKeyParameter } from '#adapters/mark-key.ts';
import type { Config } from '#core/config/config.ts';
import { AwsOperationError, NotFoundError } from '#core/model/errors.ts';
import { MARK_KEY_MIN_BYTES } from '#core/model/mark.ts';

/** What `init` did to each resource. */
export interface SetupStep {
  resource: string;
  name: string;
  region: string;
  action: 'created' | 'exists';
}

/**
 * Creates the catalog table, the copy queue with its dead-letter queue, the manifest bucket and the mark key where
 * they are missing, with the layout the CDK stack gives them in AWS. For a local sandbox; in an account the stack
 * owns them.
 */
export async function ensureSandbox(config: Config, clients: AwsClients): Promise<SetupStep[]> {
  const steps = [
    await ensureCatalogTable(config, clients),
    ...(await ensureCopyQueues(config, clients)),
    await ensureMarkKey(config, clients),
  ];
  if (config.manifests)
    steps.push(await ensureBucket(config.manifests.bucket, config.manifests.region, clients));
  return steps;
}

/** The URL of the copy queue `name`; a `NotFoundError` saying how to create it when it does not exist. */
export async function copyQueueUrl(sqs: SQSClient, name: string): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (QueueUrl) return QueueUrl;
  } catch (error) {
    if (!(error instanceof QueueDoesNotExist)) throw setupError('GetQueueUrl', error);
  }
  throw new NotFoundError(
    `the copy queue ${name} does not exist; create it with snapkeeper init (or deploy the stack)`,
  );
}

/** A message that fails this many receives goes to the dead-letter queue, where an operator looks at it. */
const MAX_RECEIVE_COUNT = 5;

async function ensureCopyQueues(config: Config, clients: AwsClients): Promise<SetupStep[]> {
  const sqs = clients.sqs(config.region);
  const name = config.copyQueue.name;
  const deadLetters = await ensureQueue(sqs, config.region, 'copy dead-letter queue', `${name}-dlq`, {
    MessageRetentionPeriod: String(14 * 24 * 3600),
  });
  let deadLetterArn: string | undefined;
  try {
    const response = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: deadLetters.url, AttributeNames: ['QueueArn'] }),
    );
    deadLetterArn = response.Attributes?.QueueArn;
  } catch (error) {
    throw setupError('GetQueueAttributes', error);
  }
  const queue = await ensureQueue(sqs, config.region, 'copy queue', name, {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: MAX_RECEIVE_COUNT }),
  });
  return [deadLetters.step, queue.step];
}

async function ensureQueue(
  sqs: SQSClient,
  region: string,
  resource: string,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; step: SetupStep }> {
  const step = { resource, name, region };
  try {
    return { url: await copyQueueUrl(sqs, name), step: { ...step, action: 'exists' } };
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  try {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: { SqsManagedSseEnabled: 'true', ...attributes },
      }),
    );
    return { url: QueueUrl ?? '', step: { ...step, action: 'created' } };
  } catch (error) {
    throw setupError('CreateQueue', error);
  }
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

/**
 * The sandbox's mark key: random bytes as a SecureString, created once and never overwritten, since every mark
 * made with the old key would stop proving anything and its resources would be held.
 */
async function ensureMarkKey(config: Config, clients: AwsClients): Promise<SetupStep> {
  const name = sandboxMarkKeyParameter(config.catalog.table);
  const step = { resource: 'mark key', name, region: config.region };
  try {
    await clients.ssm(config.region).send(
      new PutParameterCommand({
        Name: name,
        Type: 'SecureString',
        Value: randomBytes(MARK_KEY_MIN_BYTES).toString('base64url'),
        Overwrite: false,
        Description: 'snapkeeper mark key: proves snapkeeper created a snapshot before it deletes it',
      }),
    );
  } catch (error) {
    if (error instanceof ParameterAlreadyExists) return { ...step, action: 'exists' };
    throw setupError('PutParameter', error);
  }
  return { ...step, action: 'created' };
}

function setupError(operation: string, error: unknown): AwsOperationError {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(operation, detail, { cause: error });
}
