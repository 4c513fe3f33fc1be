import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { AwsClients } from '#adapters/clients.ts';
import { backUpOnDemand, type OnDemandReport } from '#core/backup/on-demand.ts';
import type { RunDeps } from '#core/backup/run.ts';
import { backupDeps } from '#wiring';
import { failOnFailedTargets, lambdaWiring, logger, parsedEvent, parseEvent } from './lambda.ts';
import { emfSink, measured, runMetrics, type Telemetry } from './metrics.ts';

/** An on-demand backup request: `aws lambda invoke --payload '{"policy":"daily"}'`. */
export const BackupRequestSchema = z.strictObject({
  policy: z.string().min(1).describe('The policy whose targets are backed up.'),
  targetId: z
    .string()
    .min(1)
    .optional()
    .describe('Only this instance, volume or group:<name> of the policy; default all of them.'),
  requestId: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe(
      'The same id twice makes one backup; default the invocation id, which Lambda keeps across its own retries.',
    ),
});

export type BackupRequest = z.input<typeof BackupRequestSchema>;

/** `telemetry.clients` must be the clients `deps` uses: their throttles are the backup's. */
export function createBackupHandler(deps: () => RunDeps, telemetry: Telemetry) {
  return middy<BackupRequest, OnDemandReport>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(BackupRequestSchema))
    .handler(async (event, context) => {
      const request = parsedEvent(BackupRequestSchema, event);
      // The freeze state machine thaws everything before the Lambda's own timeout cuts it off.
      const deadline = { remainingMs: () => context.getRemainingTimeInMillis() };
      const report = await measured(
        telemetry,
        () =>
          backUpOnDemand(
            { ...request, requestId: request.requestId ?? context.awsRequestId },
            { ...deps(), deadline },
          ),
        (result, throttled) => runMetrics(result, throttled, 'backup'),
      );
      failOnFailedTargets(report);
      return report;
    });
}

let deps: RunDeps | undefined;
const clients = new AwsClients();

export const handler = createBackupHandler(
  () => {
    deps ??= backupDeps(lambdaWiring(clients));
    return deps;
  },
  { clients, sink: emfSink },
);
