import { z } from 'zod';

/**
 * The environment of every snapkeeper Lambda. The CDK construct builds its `environment` from this type, so a
 * variable missing there fails the type check of `infra/`, not a Lambda at 3 a.m.
 */
export const HandlerEnvSchema = z.object({
  /** The whole snapkeeper configuration as JSON, validated at synth time and again at cold start. */
  SNAPKEEPER_CONFIG: z.string().min(2),
  /** Powertools logger service name. */
  POWERTOOLS_SERVICE_NAME: z.string().default('snapkeeper'),
  POWERTOOLS_LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
});

export type HandlerEnv = z.input<typeof HandlerEnvSchema>;
