/** Building blocks of the fault layer: time, randomness, rate limits and SDK-shaped errors. */

/** Milliseconds since an arbitrary epoch. Tests pass a manual clock to make token buckets exact. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to, for unit tests and simulated time. */
export class ManualClock implements Clock {
  constructor(private ms = 0) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The classic token bucket, as EC2 documents its request throttling: `burst` tokens at most, refilled at
 * `ratePerSecond`; a call spends one token or is throttled. It starts full.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly burst: number,
    readonly ratePerSecond: number,
    now: number,
  ) {
    if (burst < 1 || ratePerSecond < 0) throw new RangeError('a token bucket needs burst >= 1 and rate >= 0');
    this.tokens = burst;
    this.last = now;
  }

  /** Spends a token if one is available at `now`. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.last = Math.max(this.last, now);
  }
}

export interface InjectedErrorShape {
  name: string;
  message?: string;
  fault?: 'client' | 'server';
  httpStatusCode?: number;
  /** Marks the error as throttling for the SDK retry strategy (`$retryable.throttling`). */
  throttling?: boolean;
  service?: string;
}

/**
 * An error with the fields the SDK's service exceptions carry, so the SDK retry strategy, `instanceof
 * ServiceException` (duck-typed in Smithy) and modeled-error `instanceof` checks by name all treat it as real.
 */
export class InjectedServiceError extends Error {
  readonly $fault: 'client' | 'server';
  readonly $metadata: {
    httpStatusCode: number;
    requestId: string;
    attempts: number;
    totalRetryDelay: number;
  };
  readonly $retryable?: { throttling: boolean };
  readonly $service?: string;
  /** EC2's XML errors expose the code here as well as in `name`. */
  readonly Code: string;
  /** Lets a test tell an injected fault from one the emulator produced. */
  readonly injected = true;

  constructor(shape: InjectedErrorShape, requestId: string) {
    super(shape.message ?? `injected fault: ${shape.name}`);
    this.name = shape.name;
    this.Code = shape.name;
    const serverSide = SERVER_ERRORS.has(shape.name);
    this.$fault = shape.fault ?? (serverSide ? 'server' : 'client');
    this.$metadata = {
      httpStatusCode: shape.httpStatusCode ?? (shape.throttling ? 503 : serverSide ? 500 : 400),
      requestId,
      attempts: 1,
      totalRetryDelay: 0,
    };
    if (shape.throttling) this.$retryable = { throttling: true };
    if (shape.service) this.$service = shape.service;
  }
}

/** Error names AWS returns with HTTP 5xx; the SDK retries these as transient. */
const SERVER_ERRORS = new Set([
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailable',
  'Unavailable',
]);

/** The throttling error name each service uses; EC2's is `RequestLimitExceeded`, most JSON services'
 * `ThrottlingException`. */
export function throttlingErrorName(service: string): string {
  return service === 'EC2' ? 'RequestLimitExceeded' : 'ThrottlingException';
}

/** `CreateSnapshotsCommand` → `CreateSnapshots`; `EC2Client` → `EC2`. */
export function actionName(commandName: string | undefined): string {
  return (commandName ?? 'Unknown').replace(/Command$/, '');
}

export function serviceName(clientName: string | undefined): string {
  return (clientName ?? 'Unknown').replace(/Client$/, '');
}
