/** The small interfaces every capability shares, in domain words. Each capability's own ports live beside it
 * (`core/backup/ports.ts`, `core/copies/ports.ts`, `core/recovery/ports.ts`, the catalog in `./catalog.ts`). */

export interface Clock {
  now(): Date;
}

/** Structured logging with constant messages and data in keys. */
export interface Log {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

export type Tags = Record<string, string>;

/** The invocation's own time limit: a Lambda's `getRemainingTimeInMillis`, or unlimited for the CLI. */
export interface Deadline {
  remainingMs(): number;
}

/** Waiting, as a port, so the core never touches timers and unit tests wait on a fake clock. */
export interface Timer {
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
