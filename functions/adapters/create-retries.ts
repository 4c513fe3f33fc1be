import type { RetryErrorInfo, RetryStrategyV2, RetryToken } from '@smithy/types';

/**
 * The SDK retry strategy of the client that makes snapshots and AMIs. `CreateSnapshot`, `CreateSnapshots` and
 * `CreateImage` take no idempotency token, so a retry after a lost response makes a second snapshot. Only an error
 * that proves the call was not carried out is retried here: throttling, which EC2 answers before acting. Every
 * other failure goes to the caller, which looks for what the call made before creating again.
 */
export class ThrottlingOnlyRetries implements RetryStrategyV2 {
  constructor(
    private readonly maxAttempts: number,
    /** The first backoff, doubled per retry, with full jitter. */
    private readonly baseDelayMs = 100,
    private readonly maxDelayMs = 20_000,
  ) {}

  async acquireInitialRetryToken(): Promise<RetryToken> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(previous: RetryToken, info: RetryErrorInfo): Promise<RetryToken> {
    const retries = previous.getRetryCount() + 1;
    // Throwing ends the retries; the SDK then throws the call's own error.
    if (info.errorType !== 'THROTTLING' || retries >= this.maxAttempts) throw new Error('not retried');
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** retries);
    return token(retries, Math.random() * ceiling);
  }

  recordSuccess(): void {}
}

function token(retries: number, delayMs: number): RetryToken {
  return { getRetryCount: () => retries, getRetryDelay: () => delayMs };
}
