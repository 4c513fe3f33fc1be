/**
 * Every error class of the project lives here, so a caller finds what it may catch in one place. Callers
 * branch with `instanceof`, never on message text or `name`. Each message names the problem and, where there
 * is one, the fix; `cause` keeps the error underneath.
 */

/** Bad input from a person or an event: a runbook request, a CLI flag, a scheduler event. CLI exit status 2. */
export class InputError extends Error {
  // Widened to string so a more specific kind of bad input can name itself.
  override readonly name: string = 'InputError';
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

/** A catalog item that is not a generation record this version can read. */
export class CatalogItemError extends AwsOperationError {
  constructor(
    readonly key: string,
    problems: string,
  ) {
    super(
      'catalog: read generation',
      `item ${key} is not a valid generation record (${problems}); restore the item from point-in-time recovery or delete it and run snapkeeper rebuild-catalog`,
    );
  }
}

/** A manifest object that is not a generation manifest this version can read. */
export class ManifestObjectError extends AwsOperationError {
  constructor(
    readonly key: string,
    problems: string,
  ) {
    super(
      'manifests: read manifest',
      `object ${key} is not a valid generation manifest (${problems}); restore its previous version (the bucket is versioned), or delete it and let the generation's next change in the catalog write it again`,
    );
  }
}

/** The catalog already holds a generation with this id (the conditional write lost). */
export class GenerationExistsError extends Error {
  override readonly name = 'GenerationExistsError';
}

/** Another writer changed the generation before each of the catalog's attempts at a change; it can be tried again. */
export class WriteConflictError extends Error {
  override readonly name = 'WriteConflictError';
  constructor(
    readonly operation: string,
    readonly generationId: string,
    readonly attempts: number,
  ) {
    super(
      `${operation}: another writer changed generation ${generationId} before each of ${attempts} attempts; try again`,
    );
  }
}

/** Waiting for a resource to reach a state took longer than allowed. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/** One problem in a config: where (`policies[0].schedules[1].expression`, empty for the whole file) and what to do. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A config that cannot be used. The message has one line per issue: `<source>: <path>: <reason and fix>`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: ConfigIssue[];
  readonly source?: string;

  constructor(issues: ConfigIssue[], source?: string, options?: { cause?: unknown }) {
    super(
      issues.map((issue) => [source, issue.path, issue.message].filter(Boolean).join(': ')).join('\n'),
      options,
    );
    this.issues = issues;
    if (source !== undefined) this.source = source;
  }
}

/** A freeze that did not happen or was not acknowledged in time; the message goes into the record. */
export class FreezeFailedError extends Error {
  override readonly name = 'FreezeFailedError';
}

/** `onFailure: skip`: the freeze failed, so no generation is taken. */
export class FreezeSkippedError extends Error {
  override readonly name = 'FreezeSkippedError';
}

/** Some create calls of a take failed; the take (its `failed`) keeps what the others made, so nothing is lost. */
export class CreateFailedError extends Error {
  override readonly name = 'CreateFailedError';
}

/** Some targets of a scheduled run failed; each is recorded as a failed generation. Failing the invocation
 * lets the Lambda retry them (a retry skips what already succeeded) and raises the failed-runs alarm. */
export class RunFailedError extends Error {
  override readonly name = 'RunFailedError';
}

/** Generations failed or stuck in a reconcile pass: failing the invocation raises the failed-runs alarm. */
export class ReconcileAttentionError extends Error {
  override readonly name = 'ReconcileAttentionError';
}

/** Why EC2 would not start a copy now. `limit`: the Region's concurrent-copy quota is full; `throttled`: the
 * API rate; both are waited out, never recorded as failures. `refused`: for good (source gone, key unusable). */
export type CopyRefusal = 'limit' | 'throttled' | 'refused';

/** Raised by `CopyService` when EC2 refuses to start a copy. */
export class CopyRefusedError extends Error {
  override readonly name = 'CopyRefusedError';
  constructor(
    readonly refusal: CopyRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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

/** Raised by `Pruner.deleteSnapshot` when EC2 refuses because an AMI still uses the snapshot. */
export class SnapshotInUseError extends Error {
  override readonly name = 'SnapshotInUseError';
  constructor(
    readonly snapshotId: string,
    /** The AMIs found using it; empty when EC2 named none and none was found. */
    readonly imageIds: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`snapshot ${snapshotId} is in use by ${imageIds.length ? imageIds.join(', ') : 'an AMI'}`, options);
  }
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

/** AWS cannot be worked with as the environment is set up: no credentials, no catalog table where the command
 * looks, an endpoint that does not answer as AWS. The message says what to change; `cause` keeps the SDK error. */
export class AwsSetupError extends Error {
  override readonly name = 'AwsSetupError';
}

/**
 * A create call (`CreateSnapshot`, `CreateSnapshots`, `CreateImage`) failed without saying whether EC2 carried it
 * out: a timeout, a server error, a connection reset. Those calls take no idempotency token, so the caller looks
 * for what the call made before it creates again.
 */
export class CreateOutcomeUnknownError extends Error {
  override readonly name = 'CreateOutcomeUnknownError';
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options);
  }
}

/** A late outcome that the catalog refused to write over a newer record (`outcomeSuperseded` says why). */
export class OutcomeSupersededError extends Error {
  override readonly name = 'OutcomeSupersededError';
}

/** The message of any thrown value, for records and logs. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * An error's message followed by those of its causes that it does not already repeat, each cause with its
 * name, for one-line output: `DeleteSnapshot: failed ← cause: ThrottlingException: Rate exceeded`.
 */
export function describeErrorChain(error: unknown): string {
  const parts: string[] = [];
  let text = '';
  for (let current = error, depth = 0; current !== undefined && depth < 5; depth++) {
    const message = describeError(current);
    const name = current instanceof Error ? current.name : undefined;
    if (!text.includes(message)) {
      parts.push(depth > 0 && name && name !== 'Error' ? `${name}: ${message}` : message);
      text += message;
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← cause: ');
}

/** An on-demand backup named a target the policy does not back up (unknown, untagged, or not snapshottable). */
export class TargetNotSelectedError extends InputError {
  override readonly name = 'TargetNotSelectedError';
}

/**
 * A runbook that changes things in steps failed at `step`. `rolledBack`: every step it had done was undone, so
 * the instance is as it was; otherwise the message says what is left and what to do by hand.
 */
export class RunbookFailedError extends Error {
  override readonly name = 'RunbookFailedError';
  constructor(
    message: string,
    readonly step: string,
    readonly rolledBack: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Another invocation holds the same runbook request and its lease has not run out: nothing was done. */
export class RunbookInProgressError extends Error {
  override readonly name = 'RunbookInProgressError';
}
