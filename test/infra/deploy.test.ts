// Deploys the real app to the local emulator with the CDK CLI, as an operator would, and checks that what the
// stack promises exists. The emulator creates resources but runs nothing: behaviour is tested elsewhere.
// moto's CloudFormation silently skips what it does not model: Scheduler schedules, queue and bucket policies (the
// enforceSSL denies), CloudWatch alarms (every one: alarms.test.ts checks them) and the manifest bucket's versioning, Object
// Lock and public access block. test/infra/stack.test.ts, copies.test.ts and manifest-bucket.test.ts check those
// in the template instead.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetFunctionCommand, LambdaClient, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { GetBucketEncryptionCommand, GetBucketLocationCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogIndexes, catalogLayout } from '#adapters/catalog/layout.ts';
import { loadConfigFile } from '#core/config/config.ts';
import { CONFIG_FILE_CONTEXT } from '../../infra/define-app.ts';
import { type Emulator, emulatorEnv, startEmulator } from '../harness/emulator.ts';
import { repoConfigFile, repoRoot } from './synth.ts';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const DEPLOY_TIMEOUT_MS = 300_000;

describe('cdk deploy to the local emulator', () => {
  let emulator: Emulator;
  let outputs: Record<string, string>;
  const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-deploy-'));

  /** Runs the project's CDK CLI against the emulator; the app itself comes from cdk.json. */
  async function cdk(args: string[]): Promise<void> {
    try {
      await run(
        join(repoRoot.pathname, 'node_modules/.bin/cdk'),
        [...args, '--no-notices', '--output', join(scratch, 'cdk.out')],
        {
          cwd: repoRoot.pathname,
          env: { ...process.env, ...emulatorEnv(emulator.endpoint), CDK_DISABLE_VERSION_CHECK: '1' },
          maxBuffer: 64 * 1024 * 1024,
        },
      );
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`cdk ${args[0]} failed:\n${stderr ?? ''}\n${stdout ?? ''}`, { cause: error });
    }
  }

  beforeAll(async () => {
    // The harness's emulator when the infra project provides one (AWS_ENDPOINT_URL); otherwise our own moto.
    emulator = await startEmulator();
    const started = Date.now();
    const config = await loadConfigFile(repoConfigFile);
    // The main stack's Region and the manifest stack's (the DR Region).
    const regions = [...new Set([config.region, config.manifests?.region ?? config.region])];
    await cdk(['bootstrap', ...regions.map((region) => `aws://${ACCOUNT}/${region}`)]);
    const bootstrapped = Date.now();
    const outputsFile = join(scratch, 'outputs.json');
    await cdk([
      'deploy',
      '--all',
      '--require-approval',
      'never',
      // Change sets lose stack outputs on the emulator; a direct deployment keeps them.
      '--method=direct',
      '--context',
      `${CONFIG_FILE_CONTEXT}=${repoConfigFile}`,
      '--outputs-file',
      outputsFile,
    ]);
    outputs = JSON.parse(readFileSync(outputsFile, 'utf8')).Snapkeeper;
    console.info(
      `cdk bootstrap ${((bootstrapped - started) / 1000).toFixed(1)} s, cdk deploy ${((Date.now() - bootstrapped) / 1000).toFixed(1)} s`,
    );
  }, DEPLOY_TIMEOUT_MS);

  afterAll(async () => {
    rmSync(scratch, { recursive: true, force: true });
    await emulator?.stop();
  });

  it('creates the manifest bucket in the manifest Region, encrypted with SSE-S3', async () => {
    const config = await loadConfigFile(repoConfigFile);
    const manifests = config.manifests;
    if (!manifests) throw new Error('the repository config names no manifest bucket');
    const s3 = new S3Client({ region: manifests.region, endpoint: emulator.endpoint, forcePathStyle: true });
    const { LocationConstraint } = await s3.send(new GetBucketLocationCommand({ Bucket: manifests.bucket }));
    expect(LocationConstraint).toBe(manifests.region);
    const { ServerSideEncryptionConfiguration } = await s3.send(
      new GetBucketEncryptionCommand({ Bucket: manifests.bucket }),
    );
    expect(
      ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm,
    ).toBe('AES256');
  });

  it('creates the catalog table with the layout the adapters use', async () => {
    const config = await loadConfigFile(repoConfigFile);
    expect(outputs.CatalogTableName).toBe(config.catalog.table);
    const dynamo = new DynamoDBClient({ region: config.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: config.catalog.table }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: catalogLayout.partitionKey, KeyType: 'HASH' },
      { AttributeName: catalogLayout.sortKey, KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(
      catalogIndexes.map((index) => index.name),
    );
    expect(Table?.DeletionProtectionEnabled).toBe(true);
  });

  it.each(['ScheduledRunFunctionName', 'RestoreVolumeFunctionName', 'ReconcileFunctionName'])(
    'creates the %s Lambda',
    async (output) => {
      const name = outputs[output];
      expect(name).toBeTruthy();
      const lambda = new LambdaClient({ region: 'us-east-1', endpoint: emulator.endpoint });
      const fn = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
      expect(fn.Configuration).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler' });
      expect(JSON.parse(fn.Configuration?.Environment?.Variables?.SNAPKEEPER_CONFIG ?? '{}').catalog).toEqual(
        (await loadConfigFile(repoConfigFile)).catalog,
      );
    },
  );

  it("creates the schedules' encrypted dead-letter queue and the alarm topic", async () => {
    const config = await loadConfigFile(repoConfigFile);
    const sqs = new SQSClient({ region: config.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: outputs.ScheduleDeadLetterQueueUrl,
        AttributeNames: ['All'],
      }),
    );
    expect(Attributes?.SqsManagedSseEnabled).toBe('true');
    expect(Attributes?.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));
    // moto creates the topic (and skips the alarms, see the top of this file): its ARN is a real one.
    expect(outputs.AlarmTopicArn).toMatch(new RegExp(`^arn:aws:sns:${config.region}:${ACCOUNT}:`));
    expect(outputs.DashboardName).toBe(`${config.catalog.table}-snapkeeper`);
  });

  it('creates the copy queue with its dead-letter queue, and feeds the copy worker from it', async () => {
    const config = await loadConfigFile(repoConfigFile);
    const sqs = new SQSClient({ region: config.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const attributes = async (url: string | undefined) =>
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
        .Attributes ?? {};
    const queue = await attributes(outputs.CopyQueueUrl);
    const deadLetters = await attributes(outputs.CopyDeadLetterQueueUrl);
    expect(queue.QueueArn).toMatch(new RegExp(`:${config.copyQueue.name}$`));
    expect(deadLetters.QueueArn).toMatch(new RegExp(`:${config.copyQueue.name}-dlq$`));
    expect(JSON.parse(queue.RedrivePolicy ?? '{}')).toMatchObject({
      deadLetterTargetArn: deadLetters.QueueArn,
      maxReceiveCount: 5,
    });
    for (const each of [queue, deadLetters]) expect(each.SqsManagedSseEnabled).toBe('true');

    const lambda = new LambdaClient({ region: config.region, endpoint: emulator.endpoint, maxAttempts: 1 });
    const { EventSourceMappings } = await lambda.send(
      new ListEventSourceMappingsCommand({ FunctionName: outputs.CopyWorkerFunctionName }),
    );
    expect(EventSourceMappings).toEqual([
      expect.objectContaining({
        EventSourceArn: queue.QueueArn,
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 2 },
      }),
    ]);
    for (const output of ['ScheduledRunFunctionName', 'ReconcileFunctionName', 'CopyWorkerFunctionName']) {
      const fn = await lambda.send(new GetFunctionCommand({ FunctionName: outputs[output] }));
      expect(fn.Configuration?.Environment?.Variables?.SNAPKEEPER_COPY_QUEUE_URL, output).toBe(
        outputs.CopyQueueUrl,
      );
    }
  });
});
