import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Sends a batch request (BatchGetItem, BatchWriteItem) and then, until nothing is left, what DynamoDB left
 * unprocessed: it does so under throttling, and the caller's items are then only partly done. `send` resolves
 * with what is left, or undefined when nothing is. Waits grow from 100 ms to at most 2 s between rounds, as
 * the DynamoDB documentation advises for unprocessed items.
 */
export async function untilProcessed<T>(
  first: T,
  send: (pending: T) => Promise<T | undefined>,
): Promise<void> {
  let pending: T | undefined = first;
  for (let round = 0; pending !== undefined; round++) {
    if (round > 0) await sleep(Math.min(50 * 2 ** round, 2000));
    pending = await send(pending);
  }
}

/** `value` unless it is empty (DynamoDB answers "nothing unprocessed" with an empty map or list). */
export function unlessEmpty<T extends object>(value: T | undefined): T | undefined {
  return value && Object.keys(value).length > 0 ? value : undefined;
}
