import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type ReceiveMessageCommandOutput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { workCopyMessages } from '#adapters/copy-queue.ts';
import type { CopyBatchResult } from '#core/copies/step.ts';
import { AwsOperationError, describeError } from '#core/model/errors.ts';
import type { CopyWorkerDeps } from '#wiring';

export interface PumpOptions {
  /** Caps the delay of re-sent messages; 0 makes a waiting message visible again at once (the sandbox). */
  maxDelaySeconds?: number;
  /** Receive rounds at most; a round is up to 10 messages. */
  maxRounds?: number;
  /** How long a received message stays hidden from other consumers while this one works on it. */
  visibilitySeconds?: number;
}

export interface PumpReport extends CopyBatchResult {
  rounds: number;
}

/**
 * Works the copy queue from outside Lambda, as the event source mapping does in AWS: receive what is visible,
 * run the copy worker on it, delete what it handled and leave failures to be delivered again. How the CLI's
 * `copy` command and the sandbox move copies along; stops when nothing is visible or after `maxRounds`.
 */
export async function pumpCopyQueue(
  sqs: SQSClient,
  queueUrl: string,
  deps: CopyWorkerDeps,
  options: PumpOptions = {},
): Promise<PumpReport> {
  const report: PumpReport = { steps: [], failed: [], rounds: 0 };
  const idle = new Set<string>();
  let idleSteps = 0;
  for (let round = 1; round <= (options.maxRounds ?? 50); round++) {
    let received: ReceiveMessageCommandOutput;
    try {
      received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: options.visibilitySeconds ?? 120,
        }),
      );
    } catch (error) {
      throw new AwsOperationError('receive copy messages', describeError(error), { cause: error });
    }
    const messages = received.Messages ?? [];
    if (messages.length === 0) break;
    report.rounds = round;
    const result = await workCopyMessages(
      deps,
      messages.map((m) => ({ id: m.MessageId ?? '', body: m.Body ?? '' })),
      { maxDelaySeconds: options.maxDelaySeconds },
    );
    report.steps.push(...result.steps);
    report.failed.push(...result.failed);
    const failed = new Set(result.failed.map((f) => f.id));
    const handled = messages.filter((m) => !failed.has(m.MessageId ?? ''));
    const retry = messages.filter((m) => failed.has(m.MessageId ?? ''));
    try {
      if (handled.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: handled.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
      // A failed message is left to the queue's own retry and dead-letter policy, as Lambda would leave it.
      if (retry.length > 0) {
        await sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: queueUrl,
            Entries: retry.map((m, i) => ({
              Id: String(i),
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: 30,
            })),
          }),
        );
      }
    } catch (error) {
      throw new AwsOperationError('settle copy messages', describeError(error), { cause: error });
    }
    // With no delay, waiting messages come straight back: stop once every waiting copy was stepped twice in a
    // row without anything changing (slots full of copies still in flight, or the quota answered): nothing will move.
    for (const step of result.steps) {
      if (step.outcome === 'wait' && !step.progressed) {
        idleSteps += 1;
        idle.add(`${step.generationId}#${step.region}`);
      } else {
        idleSteps = 0;
        idle.clear();
      }
    }
    if (idle.size > 0 && idleSteps >= 2 * idle.size) break;
  }
  return report;
}
