import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { AwsClients } from '#adapters/clients.ts';
import { type ReconcileDryRun, reconcileDryRun } from '#core/lifecycle/dry-run.ts';
import { type ReconcileDeps, type ReconcileReport, reconcile } from '#core/lifecycle/reconcile.ts';
import { ReconcileAttentionError } from '#core/model/errors.ts';
import { reconcileDeps } from '#wiring';
import { lambdaWiring, logger, parseEvent } from './lambda.ts';
import { emfSink, measured, reconcileMetrics, type Telemetry } from './metrics.ts';

/**
 * The reconcile schedule sends an empty object; `{ "dryRun": true }` asks what a pass would do, changing nothing.
 * Anything else is a mistake worth failing on.
 */
export const ReconcileEventSchema = z.strictObject({
  dryRun: z
    .boolean({ error: 'dryRun must be true or false (true: report what the pass would do, change nothing)' })
    .optional(),
});

/** `telemetry.clients` must be the clients `deps` uses: their throttles are the pass's. */
export function createReconcileHandler(deps: () => ReconcileDeps, telemetry: Telemetry) {
  return middy<z.input<typeof ReconcileEventSchema>, ReconcileReport | ReconcileDryRun>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(ReconcileEventSchema))
    .handler(async (event) => {
      // A question, not a pass: it publishes no figures and fails nothing, whatever it finds.
      if (event.dryRun) return reconcileDryRun(deps());
      // Published before stuck or failed generations fail the invocation: the RPO alarms need the figures.
      const report = await measured(telemetry, () => reconcile(deps()), reconcileMetrics);
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
const clients = new AwsClients();

export const handler = createReconcileHandler(
  () => {
    deps ??= reconcileDeps(lambdaWiring(clients));
    return deps;
  },
  { clients, sink: emfSink },
);
