import { previousRunAt } from '#core/config/occurrence.ts';

/**
 * The latest time before now that a cron expression fired at, as ISO: what the real scheduled-run handler
 * accepts, since it refuses times off the schedule or older than its deliveries' retries.
 */
export function latestOccurrence(expression: string, now = new Date()): string {
  const at = previousRunAt({ expression }, now);
  if (!at) throw new Error(`${expression} has no occurrence before ${now.toISOString()}`);
  return at.toISOString();
}
