import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseCopyMessage } from '../adapters/copy-queue.ts';
import { type CopyWorkerDeps, copyWorkerDeps } from '../adapters/wiring.ts';
import { copyBatch, type DeliveredCopy } from '../core/copy.ts';
import { describeError } from '../core/errors.ts';
import { copyQueueUrl } from './env.ts';
import { lambdaConfig, lambdaLog, logger } from './lambda.ts';

/**
 * The copy worker, fed by the SQS copy queue (batch item failures reported): each message is one generation's
 * copy to one Region; one that must wait for a slot or for its copies to finish is sent again with a delay.
 * A message that is not a copy message is reported failed, so after five deliveries it rests in the
 * dead-letter queue for a person to read, and the alarm on that queue fires.
 */
export function createCopyWorkerHandler(deps: () => CopyWorkerDeps) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => {
      const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
      const delivered: DeliveredCopy[] = [];
      for (const record of event.Records ?? []) {
        try {
          delivered.push({ id: record.messageId, message: parseCopyMessage(record.body) });
        } catch (error) {
          logger.error('bad copy message', {
            messageId: record.messageId,
            body: record.body,
            error: describeError(error),
          });
          batchItemFailures.push({ itemIdentifier: record.messageId });
        }
      }
      const result = await copyBatch(deps(), delivered);
      batchItemFailures.push(...result.failed.map((f) => ({ itemIdentifier: f.id })));
      logger.info('copy batch finished', {
        messages: event.Records?.length ?? 0,
        done: result.steps.filter((s) => s.outcome === 'done').length,
        waiting: result.steps.filter((s) => s.outcome === 'wait').length,
        failed: batchItemFailures.length,
      });
      return { batchItemFailures };
    });
}

let deps: CopyWorkerDeps | undefined;

export const handler = createCopyWorkerHandler(() => {
  deps ??= copyWorkerDeps({ config: lambdaConfig(), log: lambdaLog }, copyQueueUrl());
  return deps;
});
