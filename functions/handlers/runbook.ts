import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { parseRequest, RequestError } from '#core/recovery/request.ts';
import { fromAutomation } from './automation.ts';
import { logger } from './lambda.ts';

/**
 * Every runbook Lambda has this shape: the event is the runbook's request (invoked directly, `aws lambda
 * invoke`) or an SSM Automation payload of it (`{"automation": {...}}`, see automation.ts), validated once with
 * the runbook's schema; a bad one fails the invocation with a `RequestError` naming each field, logged once
 * here. The handler then calls the runbook's core function with the validated request.
 */
export function runbookHandler<S extends z.ZodType, R>(
  runbook: string,
  schema: S,
  run: (request: z.output<S>, context: Context) => Promise<R>,
) {
  return middy<unknown, R>()
    .use(injectLambdaContext(logger))
    .use(parseRunbookEvent(runbook, schema))
    .handler((event, context) => run(event as z.output<S>, context));
}

function parseRunbookEvent(runbook: string, schema: z.ZodType): MiddlewareObj<unknown, unknown> {
  return {
    before: (request) => {
      try {
        request.event = parseRequest(runbook, schema, fromAutomation(schema, request.event));
      } catch (error) {
        if (error instanceof RequestError) {
          logger.error('bad event', { event: request.event, problems: error.problems });
        }
        throw error;
      }
    },
  };
}
