import { WaitTimeoutError } from '#core/model/errors.ts';

export interface Sleeper {
  sleep(ms: number): Promise<void>;
}

export const realSleeper: Sleeper = { sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/**
 * Polls `read` (a resource's state) until it is one of `done`, backing off from 1 s to 15 s. A state in `failed`
 * ends the wait with what `onFailed` throws; `timeoutMs` with a `WaitTimeoutError` naming `what` and its state.
 */
export async function pollUntil(options: {
  what: string;
  read: () => Promise<string>;
  done: readonly string[];
  timeoutMs: number;
  sleeper: Sleeper;
  failed?: readonly string[];
  onFailed?: (state: string) => Error;
  onWait?: (state: string, waitedMs: number) => void;
}): Promise<void> {
  const started = Date.now();
  let delay = 1000;
  for (;;) {
    const state = await options.read();
    if (options.done.includes(state)) return;
    if (options.failed?.includes(state) && options.onFailed) throw options.onFailed(state);
    const waited = Date.now() - started;
    if (waited >= options.timeoutMs) {
      throw new WaitTimeoutError(
        `${options.what} is still ${state} after ${Math.round(waited / 1000)} s; it may still get there: check it in the EC2 console or with the AWS CLI`,
      );
    }
    options.onWait?.(state, waited);
    await options.sleeper.sleep(delay);
    delay = Math.min(delay * 2, 15_000);
  }
}
