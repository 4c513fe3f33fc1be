import type { Context } from 'aws-lambda';
import {
  REPLACE_VOLUME,
  type ReplaceDeps,
  ReplaceVolumeRequestSchema,
  replaceVolume,
} from '#core/recovery/replace.ts';
import { replaceDeps } from '#wiring';
import { lambdaConfig, lambdaLog } from './lambda.ts';
import { runbookHandler } from './runbook.ts';

/** The replace-volume runbook as a Lambda: `aws lambda invoke`, or its SSM Automation document. */
export function createReplaceVolumeHandler(deps: (context: Context) => ReplaceDeps) {
  return runbookHandler(REPLACE_VOLUME, ReplaceVolumeRequestSchema, (request, context) =>
    // A retry of an async invocation keeps its request id: it finds the journal and does the work once.
    replaceVolume({ requestId: context.awsRequestId, ...request }, deps(context)),
  );
}

export const handler = createReplaceVolumeHandler((context) =>
  replaceDeps({ config: lambdaConfig(), log: lambdaLog }, `lambda:${context.invokedFunctionArn}`),
);
