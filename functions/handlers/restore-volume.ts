import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { restoreDeps } from '../adapters/wiring.ts';
import type { RestoreDeps, RestoreVolumeRequest, RestoreVolumeResult } from '../core/restore.ts';
import { RestoreVolumeRequestSchema, restoreVolume } from '../core/restore.ts';
import { lambdaConfig, lambdaLog, logger, parseEvent } from './lambda.ts';

/** The restore-volume runbook (SPEC §6) as a Lambda: `aws lambda invoke` with the request as the payload. */
export function createRestoreVolumeHandler(deps: (context: Context) => RestoreDeps) {
  return middy<RestoreVolumeRequest, RestoreVolumeResult>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(RestoreVolumeRequestSchema))
    .handler((event, context) =>
      // An async invocation retried by Lambda keeps its request id, so the retry finds the same volume.
      restoreVolume({ idempotencyToken: context.awsRequestId, ...event }, deps(context)),
    );
}

export const handler = createRestoreVolumeHandler((context) =>
  restoreDeps({ config: lambdaConfig(), log: lambdaLog }, `lambda:${context.invokedFunctionArn}`),
);
