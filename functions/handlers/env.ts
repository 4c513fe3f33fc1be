import { z } from 'zod';

/**
 * The environment of every snapkeeper Lambda. The CDK construct builds its `environment` from this type, so a
 * variable missing there fails the type check of `infra/`, not a Lambda at 3 a.m.
 */
export const HandlerEnvSchema = z.object({
  /** The whole snapkeeper configuration as JSON, validated at synth time and again at cold start. */
  SNAPKEEPER_CONFIG: z.string().min(2),
  /** The SQS copy queue, for the Lambdas that queue DR copies (scheduled run, reconcile, copy worker). */
  SNAPKEEPER_COPY_QUEUE_URL: z.string().url().optional(),
  /** The SSM parameter of the mark key, for the Lambdas that create or delete (scheduled run, reconcile, copy
   * worker): the stack's secret, as `/aws/reference/secretsmanager/<name>`. */
  SNAPKEEPER_MARK_KEY_PARAMETER: z.string().min(1).optional(),
  /** Powertools logger service name. */
  POWERTOOLS_SERVICE_NAME: z.string().default('snapkeeper'),
  POWERTOOLS_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
});

export type HandlerEnv = z.input<typeof HandlerEnvSchema>;

/** The copy queue's URL from the environment; undefined when the stack copies nowhere. */
export function copyQueueUrl(): string | undefined {
  return HandlerEnvSchema.parse(process.env).SNAPKEEPER_COPY_QUEUE_URL;
}

/** The mark key's parameter from the environment; undefined outside a Lambda the stack configured. */
export function markKeyParameter(): string | undefined {
  return HandlerEnvSchema.parse(process.env).SNAPKEEPER_MARK_KEY_PARAMETER;
}
