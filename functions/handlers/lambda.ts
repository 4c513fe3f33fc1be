import { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import type { z } from 'zod';
import type { AwsClients } from '#adapters/clients.ts';
import type { RunReport } from '#core/backup/run.ts';
import { type Config, parseConfig } from '#core/config/config.ts';
import { InputError, RunFailedError } from '#core/model/errors.ts';
import type { Log } from '#core/model/ports.ts';
import type { Wiring } from '#wiring';
import { copyQueueUrl, HandlerEnvSchema, markKeyParameter } from './env.ts';
import { failedTargets } from './metrics.ts';

/** Shared by every handler: the logger, the configuration and event validation. Built once per cold start. */
export const logger = new Logger({ serviceName: 'snapkeeper' });

export const lambdaLog: Log = {
  debug: (message, data) => logger.debug(message, data ?? {}),
  info: (message, data) => logger.info(message, data ?? {}),
  warn: (message, data) => logger.warn(message, data ?? {}),
  error: (message, data) => logger.error(message, data ?? {}),
};

let config: Config | undefined;

/** The configuration from the environment, validated with the same schema as the CLI's file. */
export function lambdaConfig(): Config {
  if (!config) {
    const env = HandlerEnvSchema.parse(process.env);
    config = parseConfig(JSON.parse(env.SNAPKEEPER_CONFIG), 'SNAPKEEPER_CONFIG');
  }
  return config;
}

/** What every handler builds its ports from: the environment's config, queue and mark key, over `clients`. */
export function lambdaWiring(clients: AwsClients): Wiring {
  return {
    config: lambdaConfig(),
    clients,
    log: lambdaLog,
    copyQueueUrl: copyQueueUrl(),
    markKeyParameter: markKeyParameter(),
  };
}

/**
 * Validates the event with a zod schema before the handler sees it. A bad event fails the invocation with an
 * `InputError` that names each bad field, and is logged once here with the event that caused it.
 */
export function parseEvent<S extends z.ZodType>(schema: S): MiddlewareObj<z.input<S>, unknown> {
  return {
    before: (request) => {
      const parsed = schema.safeParse(request.event);
      if (!parsed.success) {
        const problems = parsed.error.issues
          .map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`)
          .join('; ');
        logger.error('bad event', { event: request.event, problems });
        throw new InputError(`bad event: ${problems}`);
      }
      request.event = parsed.data as z.input<S>;
    },
  };
}

/**
 * The event as `parseEvent(schema)` left it: parsed once, defaults and transforms applied. Middy's types cannot
 * say that a middleware changed the event, so this names the fact instead of parsing a second time.
 */
export function parsedEvent<S extends z.ZodType>(_schema: S, event: z.input<S>): z.output<S> {
  return event as z.output<S>;
}

/**
 * Fails the invocation when a target of the run failed, so the failed-runs alarm fires. A thaw that could not be
 * confirmed is a failure of the run too.
 */
export function failOnFailedTargets(report: RunReport): void {
  const failed = failedTargets(report);
  if (failed.length > 0) {
    throw new RunFailedError(
      `${failed.length} of ${report.results.length} targets failed: ${failed.map((f) => `${f.targetId} (${f.failure ?? f.thawProblems?.join('; ')})`).join('; ')}`,
    );
  }
}
