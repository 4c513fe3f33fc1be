import { writeFileSync } from 'node:fs';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { copyQueueUrl } from '#cli/sandbox-setup.ts';
import type { RunReport } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import type { Generation } from '#core/model/generation.ts';
import { handler as copyHandler } from '#handlers/copy-worker.ts';
import { handler as reconcileHandler } from '#handlers/reconcile.ts';
import { handler as runHandler } from '#handlers/scheduled-run.ts';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { latestOccurrence } from '../support/occurrence.ts';

// The Lambda path of a DR copy, through the real handlers: the scheduled-run (or reconcile) handler queues the copy in SQS,
// and the copy-worker handler, given the messages as Lambda's SQS event source would give them, copies,
// re-sends what must wait, and reports a message it cannot read as a batch item failure.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'copy-worker-catalog' },
  copyQueue: { name: 'copy-worker-queue' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      // Hourly: the real handler takes only an occurrence recent enough for a delivery's retries.
      schedules: [{ name: 'nightly', expression: 'cron(0 * * * ? *)', keep: { count: 3 } }],
      copies: [{ region: 'eu-west-1' }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-copy-worker-${process.pid}.json`;
const clients = new AwsClients({ maxAttempts: 2 });
const sqs = new SQSClient({ region: 'us-east-1' });
let queueUrl: string;
let run: RunReport;

async function receiveAll(): Promise<SQSEvent> {
  const response = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
  );
  return {
    Records: (response.Messages ?? []).map(
      (m) =>
        ({
          messageId: m.MessageId,
          body: m.Body,
          receiptHandle: m.ReceiptHandle,
        }) as SQSEvent['Records'][number],
    ),
  };
}

async function copyOf(generationId: string) {
  const listed = await cli(['generations', '--policy', 'nightly', '--json', '--config', configFile], clients);
  const generation = (JSON.parse(listed.stdout) as Generation[]).find((g) => g.id === generationId);
  return generation?.copies.find((c) => c.region === 'eu-west-1');
}

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile, '--quiet'], clients)).status).toBe(0);
  queueUrl = await copyQueueUrl(sqs, 'copy-worker-queue');
  process.env.SNAPKEEPER_CONFIG = JSON.stringify(config);
  process.env.SNAPKEEPER_COPY_QUEUE_URL = queueUrl;
  await aVolume(new EC2Client({ region: 'us-east-1' }), { tags: { 'snapkeeper:policy': 'nightly' } });
  run = (await runHandler(
    // The real handler believes only a time its schedule fired at lately.
    { policy: 'nightly', schedule: 'nightly', scheduledAt: latestOccurrence('cron(0 * * * ? *)') },
    lambdaContext(),
  )) as RunReport;
  // In AWS (and LocalStack) the run's snapshot is still pending when it ends; the reconcile Lambda's pass that finds
  // it completed queues the copy. On moto it completes within the run, which queues the copy itself.
  await reconcileHandler({}, lambdaContext());
});

describe('the copy-worker Lambda', () => {
  it('gets a message per copy Region from the scheduled run, with the copy recorded queued', async () => {
    const generationId = run.results[0]?.generationId ?? '';
    expect(await copyOf(generationId)).toMatchObject({ state: 'queued', snapshotIds: [] });
  });

  it('starts the copy, sends the message back to wait, and reports only the unreadable message failed', async () => {
    const generationId = run.results[0]?.generationId ?? '';
    const event = await receiveAll();
    expect(event.Records.map((r) => JSON.parse(r.body))).toEqual([{ generationId, region: 'eu-west-1' }]);
    const bad = { ...event.Records[0], messageId: 'not-a-copy', body: '{"region":"eu-west-1"}' };
    const response = await copyHandler({ Records: [...event.Records, bad] } as SQSEvent, lambdaContext());
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'not-a-copy' }] });

    const copy = await copyOf(generationId);
    expect(copy).toMatchObject({ state: 'pending', snapshotIds: [expect.stringMatching(/^snap-/)] });
    const inRegion = await new EC2Client({ region: 'eu-west-1' }).send(
      new DescribeSnapshotsCommand({ SnapshotIds: copy?.snapshotIds }),
    );
    expect(inRegion.Snapshots?.[0]?.Tags).toContainEqual({
      Key: 'snapkeeper:generation',
      Value: generationId,
    });
    // Sent back with a delay of at least 30 s, so it is not visible yet.
    expect((await receiveAll()).Records).toEqual([]);
  });
});
