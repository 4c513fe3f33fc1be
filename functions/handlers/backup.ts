import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { backUpOnDemand, type OnDemandReport } from '#core/backup/on-demand.ts';
import type { RunDeps } from '#core/backup/run.ts';
import { backupDeps } from '#wiring';
import { copyQueueUrl, markKeyParameter } from './env.ts';
import { failOnFailedTargets, lambdaConfig, lambdaLog, logger, parsedEvent, parseEvent } from './lambda.ts';

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

export function createBackupHandler(deps: () => RunDeps) {
  return middy<BackupRequest, OnDemandReport>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(BackupRequestSchema))
    .handler(async (event, context) => {
      const request = parsedEvent(BackupRequestSchema, event);
      // The freeze state machine thaws everything before the Lambda's own timeout cuts it off.
      const deadline = { remainingMs: () => context.getRemainingTimeInMillis() };
      const report = await backUpOnDemand(
        { ...request, requestId: request.requestId ?? context.awsRequestId },
        { ...deps(), deadline },
      );
      failOnFailedTargets(report);
      return report;
    });
}

let deps: RunDeps | undefined;

export const handler = createBackupHandler(() => {
  deps ??= backupDeps({
    config: lambdaConfig(),
    log: lambdaLog,
    copyQueueUrl: copyQueueUrl(),
    markKeyParameter: markKeyParameter(),
  });
  return deps;
});
