import type { FinalizeRequestMiddleware, HandlerExecutionContext, Pluggable } from '@smithy/types';

/**
 * Throttling across AWS: EC2's `RequestLimitExceeded` (HTTP 503), the `Throttling…` family, DynamoDB's and S3's
 * names, any HTTP 429; the SDK marks the ones it knows with `$retryable.throttling` too.
 */
const THROTTLING_ERRORS = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);

interface SdkErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/** Whether an AWS call failed because the account's API rate was exceeded (it was not carried out). */
export function isThrottling(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name = '', $metadata, $retryable } = error as SdkErrorShape;
  return THROTTLING_ERRORS.has(name) || $retryable?.throttling === true || $metadata?.httpStatusCode === 429;
}

/** Where the counter keeps, per call, whether its previous attempt was throttled. */
const THROTTLED = Symbol('snapkeeper.throttled');
type CountingContext = HandlerExecutionContext & { [THROTTLED]?: boolean };

/**
 * Throttled calls absorbed: attempts AWS refused for the API rate that the SDK then retried, so the caller never
 * saw them. It tells how close snapkeeper came to the account's EC2 API budget; a throttle that outlasts the
 * retries is the call's failure, not counted here.
 */
export class ThrottleCounter {
  private count = 0;

  /** Absorbed throttles so far in this process; a handler reports the difference across its invocation. */
  get absorbed(): number {
    return this.count;
  }

  /**
   * The SDK middleware. It sits just inside the retry loop, so it sees every attempt of a call: an attempt that
   * follows a throttled one is the SDK absorbing that throttle.
   */
  pluggable(): Pluggable<object, object> {
    const middleware: FinalizeRequestMiddleware<object, object> =
      (next, context: CountingContext) => async (args) => {
        if (context[THROTTLED]) this.count++;
        try {
          const output = await next(args);
          context[THROTTLED] = false;
          return output;
        } catch (error) {
          context[THROTTLED] = isThrottling(error);
          throw error;
        }
      };
    return {
      applyToStack: (stack) =>
        stack.addRelativeTo(middleware, {
          name: 'snapkeeperThrottleCounter',
          relation: 'after',
          toMiddleware: 'retryMiddleware',
          override: true,
        }),
    };
  }
}
