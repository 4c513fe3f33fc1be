import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { AwsClients } from '#adapters/clients.ts';
import { type RunDeps, type RunReport, RunRequestSchema, runSchedule } from '#core/backup/run.ts';
import { findSchedule } from '#core/config/config.ts';
import { assertDeliverable, assertOccurrence } from '#core/config/occurrence.ts';
import { runDeps } from '#wiring';
import { failOnFailedTargets, lambdaWiring, logger, parsedEvent, parseEvent } from './lambda.ts';
import { emfSink, measured, runMetrics, type Telemetry } from './metrics.ts';

/** What each EventBridge Scheduler schedule sends (`RunRequestSchema`), before it is parsed. */
export type ScheduledRunEvent = z.input<typeof RunRequestSchema>;

/** `telemetry.clients` must be the clients `deps` uses: their throttles are the run's. */
export function createScheduledRunHandler(deps: () => RunDeps, telemetry: Telemetry) {
  return middy<ScheduledRunEvent, RunReport>()
    .use(injectLambdaContext(logger))
    .use(parseEvent(RunRequestSchema))
    .handler(async (event, context) => {
      // The freeze state machine thaws everything before the Lambda's own timeout cuts it off.
      const deadline = { remainingMs: () => context.getRemainingTimeInMillis() };
      const run = parsedEvent(RunRequestSchema, event);
      const built = deps();
      // Retention counts generations by their scheduled time: an invented one, far ahead or off the schedule,
      // would stand in for real backups. Only a time the schedule fires at, delivered while it can be, is run.
      const scheduledAt = new Date(run.scheduledAt);
      assertOccurrence(
        findSchedule(built.config, run.policy, run.schedule).schedule,
        scheduledAt,
        'scheduledAt',
      );
      assertDeliverable(scheduledAt, built.clock.now(), 'scheduledAt');
      // Published before a failed run fails the invocation: the failures are figures too.
      const report = await measured(
        telemetry,
        () => runSchedule(run, { ...built, deadline }),
        (result, throttled) => runMetrics(result, throttled, 'scheduled-run'),
      );
      failOnFailedTargets(report);
      return report;
    });
}

let deps: RunDeps | undefined;
const clients = new AwsClients();

export const handler = createScheduledRunHandler(
  () => {
    deps ??= runDeps(lambdaWiring(clients));
    return deps;
  },
  { clients, sink: emfSink },
);
