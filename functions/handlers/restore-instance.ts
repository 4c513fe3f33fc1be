import type { Context } from 'aws-lambda';
import {
  RESTORE_INSTANCE,
  type RestoreInstanceDeps,
  RestoreInstanceRequestSchema,
  restoreInstance,
} from '#core/recovery/restore-instance.ts';
import { restoreInstanceDeps } from '#wiring';
import { lambdaConfig, lambdaLog } from './lambda.ts';
import { runbookHandler } from './runbook.ts';

/** The restore-instance runbook as a Lambda: `aws lambda invoke`, or its SSM Automation document. */
export function createRestoreInstanceHandler(deps: (context: Context) => RestoreInstanceDeps) {
  return runbookHandler(RESTORE_INSTANCE, RestoreInstanceRequestSchema, (request, context) =>
    // A retry of an async invocation keeps its request id: it finds the journal and launches once.
    restoreInstance({ requestId: context.awsRequestId, ...request }, deps(context)),
  );
}

export const handler = createRestoreInstanceHandler((context) =>
  restoreInstanceDeps({ config: lambdaConfig(), log: lambdaLog }, `lambda:${context.invokedFunctionArn}`),
);
