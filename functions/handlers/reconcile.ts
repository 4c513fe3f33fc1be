import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type ReconcileDeps, type ReconcileReport, reconcile } from '#core/lifecycle/reconcile.ts';
import { ReconcileAttentionError } from '#core/model/errors.ts';
import { reconcileDeps } from '#wiring';
import { copyQueueUrl, markKeyParameter } from './env.ts';
import { lambdaConfig, lambdaLog, logger, parseEvent } from './lambda.ts';

/** The reconcile schedule sends an empty object; anything else is a mistake worth failing on. */
export const ReconcileEventSchema = z.strictObject({});

export function createReconcileHandler(deps: () => ReconcileDeps) {
  return middy<Record<string, never>, ReconcileReport>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(ReconcileEventSchema))
    .handler(async () => {
      const report = await reconcile(deps());
      logger.info('reconcile finished', {
        examined: report.examined,
        completed: report.completed.length,
        failed: report.failed.length,
        stuck: report.stuck.length,
        pruned: report.pruned.length,
        held: report.held.length,
      });
      // Held generations are the interlocks doing their job, not a failure; stuck and failed ones need a person.
      if (report.failed.length > 0 || report.stuck.length > 0) {
        throw new ReconcileAttentionError(
          `${report.failed.length} generations failed and ${report.stuck.length} are stuck: ${[
            ...report.failed.map((f) => `${f.generationId} (${f.failure})`),
            ...report.stuck.map((s) => `${s.generationId} (pending ${s.pendingMinutes} min)`),
          ].join('; ')}`,
        );
      }
      return report;
    });
}

let deps: ReconcileDeps | undefined;

export const handler = createReconcileHandler(() => {
  deps ??= reconcileDeps({
    config: lambdaConfig(),
    log: lambdaLog,
    copyQueueUrl: copyQueueUrl(),
    markKeyParameter: markKeyParameter(),
  });
  return deps;
});
