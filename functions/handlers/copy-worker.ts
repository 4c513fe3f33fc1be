import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { AwsClients } from '#adapters/clients.ts';
import { workCopyMessages } from '#adapters/copy-queue.ts';
import { type CopyWorkerDeps, copyWorkerDeps } from '#wiring';
import { copyQueueUrl, markKeyParameter } from './env.ts';
import { lambdaConfig, lambdaLog, logger } from './lambda.ts';
import { copyMetrics, emfSink, measured, type Telemetry } from './metrics.ts';

/**
 * The copy worker, fed by the SQS copy queue (batch item failures reported): each message is one generation's
 * copy to one Region; one that must wait for a slot or for its copies to finish is sent again with a delay.
 * A message that is not a copy message is reported failed, so after five deliveries it rests in the
 * dead-letter queue for a person to read, and the alarm on that queue fires.
 */
/** `telemetry.clients` must be the clients `deps` uses: their throttles are the batch's. */
export function createCopyWorkerHandler(deps: () => CopyWorkerDeps, telemetry: Telemetry) {
  return middy<SQSEvent, SQSBatchResponse>()
    .use(injectLambdaContext(logger))
    .handler(async (event) => {
      const records = (event.Records ?? []).map((r) => ({ id: r.messageId, body: r.body }));
      const result = await measured(telemetry, () => workCopyMessages(deps(), records), copyMetrics);
      const batchItemFailures = result.failed.map((f) => ({ itemIdentifier: f.id }));
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
const clients = new AwsClients();

export const handler = createCopyWorkerHandler(
  () => {
    deps ??= copyWorkerDeps(
      { config: lambdaConfig(), clients, log: lambdaLog, markKeyParameter: markKeyParameter() },
      copyQueueUrl(),
    );
    return deps;
  },
  { clients, sink: emfSink },
);
