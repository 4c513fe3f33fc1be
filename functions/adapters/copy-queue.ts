import { setTimeout as sleep } from 'node:timers/promises';
import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { type CopyMessage, type CopyQueue, MAX_COPY_DELAY_SECONDS } from '#core/copies/ports.ts';
import { type CopyBatchResult, copyBatch, type DeliveredCopy } from '#core/copies/step.ts';
import { AwsOperationError, describeError, InputError } from '#core/model/errors.ts';
import { awsRegion } from '#core/model/regions.ts';

/** Sends of a batch's failed entries before giving up on them. */
const SEND_ATTEMPTS = 3;

/**
 * The copy queue in SQS: one message a generation and destination Region, body `{"generationId","region"}`.
 * Messages go out in batches of ten, SQS's limit; entries SQS failed on its side are sent again a few times,
 * entries it refused as malformed are not.
 */
export class SqsCopyQueue implements CopyQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(messages: readonly CopyMessage[], delaySeconds = 0): Promise<void> {
    const delay = Math.min(Math.max(0, Math.floor(delaySeconds)), MAX_COPY_DELAY_SECONDS);
    const unsent: string[] = [];
    for (let i = 0; i < messages.length; i += 10) {
      let entries: SendMessageBatchRequestEntry[] = messages.slice(i, i + 10).map((message, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify({ generationId: message.generationId, region: message.region }),
        DelaySeconds: delay,
      }));
      for (let attempt = 1; entries.length > 0; attempt++) {
        let response: SendMessageBatchCommandOutput;
        try {
          response = await this.sqs.send(
            new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
          );
        } catch (error) {
          const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          throw new AwsOperationError(
            'send copy messages',
            `${unsent.length + messages.length - i} of ${messages.length} messages were not sent (${detail})`,
            { cause: error },
          );
        }
        const failed = response.Failed ?? [];
        const retry = failed.filter((f) => !f.SenderFault && attempt < SEND_ATTEMPTS);
        unsent.push(...failed.filter((f) => !retry.includes(f)).map((f) => f.Code ?? 'unknown'));
        entries = entries.filter((entry) => retry.some((f) => f.Id === entry.Id));
        if (entries.length > 0) await sleep(50 * 2 ** attempt);
      }
    }
    if (unsent.length > 0) {
      throw new AwsOperationError(
        'send copy messages',
        `${unsent.length} of ${messages.length} messages were not sent (${[...new Set(unsent)].join(', ')})`,
      );
    }
  }
}

const CopyMessageSchema = z.object({
  generationId: z.string().min(1, { error: 'generationId is empty' }),
  region: awsRegion,
});

/** A copy message's body, validated; an `InputError` naming what is wrong when it is not one. */
export function parseCopyMessage(body: string): CopyMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new InputError(`copy message is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = CopyMessageSchema.safeParse(json);
  if (!parsed.success) throw new InputError(`bad copy message: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * The copy worker over messages as the queue delivered them (Lambda's SQS event source, or the CLI's pump):
 * each body parsed, then `copyBatch`. A body that is not a copy message is a failed item, left to the queue's
 * redrive policy, so after five deliveries it rests in the dead-letter queue for a person to read.
 */
export async function workCopyMessages(
  deps: Parameters<typeof copyBatch>[0],
  messages: readonly { id: string; body: string }[],
  options: { maxDelaySeconds?: number } = {},
): Promise<CopyBatchResult> {
  const delivered: DeliveredCopy[] = [];
  const bad: CopyBatchResult['failed'] = [];
  for (const { id, body } of messages) {
    try {
      delivered.push({ id, message: parseCopyMessage(body) });
    } catch (error) {
      deps.log.error('bad copy message', { messageId: id, body, error });
      bad.push({ id, error: describeError(error) });
    }
  }
  const result = await copyBatch(deps, delivered, options);
  return { steps: result.steps, failed: [...bad, ...result.failed] };
}
