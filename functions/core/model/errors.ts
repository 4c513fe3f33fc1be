/**
 * The project's error classes. Callers branch with `instanceof`, never on message text. Each message names the
 * problem and, where there is one, the fix.
 */

/** Bad input from a person or an event: a runbook request, a CLI flag, a scheduler event. CLI exit status 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Something asked for does not exist (a generation, a copy in a Region). CLI exit status 1. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** An AWS call failed in a way the step cannot recover from; `cause` keeps the SDK error. */
export class AwsOperationError extends Error {
  override readonly name = 'AwsOperationError';
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options);
  }
}

/** The catalog already holds a generation with this id (the conditional write lost). */
export class GenerationExistsError extends Error {
  override readonly name = 'GenerationExistsError';
}

/** Waiting for a resource to reach a state took longer than allowed. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/** Where an AWS call went unanswered, and for how long it waited. */
export interface EndpointTimeout {
  /** The service as users know it: EC2, DynamoDB, S3, SQS, SSM. */
  service: string;
  operation: string;
  /** scheme://host[:port] the call went to. */
  endpoint: string;
  timeoutMs: number;
  /** True when not even the connection opened within the bound. */
  connecting: boolean;
}

/**
 * An AWS endpoint did not answer within the client's bound. The outcome is unknown: the request may have been
 * carried out, so a create must look for what it made before it tries again.
 */
export class EndpointTimeoutError extends Error {
  override readonly name = 'EndpointTimeoutError';
  constructor(
    readonly timeout: EndpointTimeout,
    options?: { cause?: unknown },
  ) {
    const seconds = `${timeout.timeoutMs / 1000} s`;
    const what = timeout.connecting
      ? `did not accept a connection within ${seconds}`
      : `did not answer within ${seconds}`;
    super(
      `the ${timeout.service} endpoint ${timeout.endpoint} ${what} (${timeout.operation}); check that the endpoint is reachable (AWS_ENDPOINT_URL, the network, a proxy), or set SNAPKEEPER_REQUEST_TIMEOUT_MS to wait longer`,
      options,
    );
  }
}

/** The message of any thrown value, for records and logs. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
