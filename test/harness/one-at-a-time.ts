import type { DeserializeMiddleware, Pluggable } from '@smithy/types';

/**
 * moto's threaded server checks a write's condition and applies the write without a lock, so two writes of one
 * item at once can both pass their conditions (measured: lost updates, 21 slots held under a limit of 20) or
 * crash it (HTTP 500, "dictionary changed size during iteration"). DynamoDB makes each conditional write atomic.
 * Clients given this middleware therefore send one request at a time, as close to the wire as the SDK allows:
 * each write is atomic as in AWS, while one writer's read and later write still interleave with other writers'
 * (latency the fault layer adds runs outside this lock), which is the race the catalog must handle. Share one
 * instance between the clients whose requests must not overlap.
 */
export function oneRequestAtATime(): Pluggable<object, object> {
  let tail: Promise<unknown> = Promise.resolve();
  const middleware: DeserializeMiddleware<object, object> = (next) => async (args) => {
    const previous = tail;
    let release = () => {};
    tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await next(args);
    } finally {
      release();
    }
  };
  return {
    applyToStack: (stack) =>
      stack.add(middleware, { step: 'deserialize', priority: 'low', name: 'oneAtATime' }),
  };
}
