import { startMoto } from '#cli/sandbox/moto.ts';
import { kv, type Log, stderrLog } from '#cli/sandbox/moto-python.ts';

// The sandbox command prints the same environment; tests and scripts keep importing it from the harness.
export { emulatorEnv } from '#cli/sandbox/moto.ts';

/** A running local AWS endpoint: moto started by the harness, or whatever `AWS_ENDPOINT_URL` already names. */
export interface Emulator {
  /** Base URL for the SDK, e.g. `http://localhost:40123`. */
  endpoint: string;
  port: number;
  /** True when the harness started (and will stop) this emulator; false for an `AWS_ENDPOINT_URL` one. */
  managed: boolean;
  /** Process id of the moto launcher, when the harness started one. */
  pid?: number;
  /** Wipes all emulator state (every service, every Region). */
  reset(): Promise<void>;
  /** Stops the emulator if the harness started it; a no-op for an external endpoint. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Progress and diagnostics; defaults to structured lines on stderr. */
  log?: (msg: string) => void;
}

/**
 * Starts moto on a free port, or, when `AWS_ENDPOINT_URL` is already set (LocalStack, a moto you run
 * yourself), returns that endpoint untouched. The moto process dies with this Node process, however it ends.
 */
export async function startEmulator(opts: StartOptions = {}): Promise<Emulator> {
  const log = opts.log ?? stderrLog;
  const external = process.env.AWS_ENDPOINT_URL;
  if (external) return externalEmulator(external, log);

  const moto = await startMoto({ log });
  return { ...moto, managed: true, reset: () => resetEndpoint(moto.endpoint, log) };
}

function externalEmulator(endpoint: string, log: Log): Emulator {
  const url = new URL(endpoint);
  log(kv('using the existing endpoint from AWS_ENDPOINT_URL', { endpoint }));
  return {
    endpoint,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    managed: false,
    reset: () => resetEndpoint(endpoint, log),
    stop: async () => {},
  };
}

/**
 * Wipes an emulator's state by URL, from any process (test workers only know the endpoint). Tries moto's
 * reset, then LocalStack's. A 2xx with an empty body is not a reset: LocalStack's catch-all answers every unknown
 * path so, resetting nothing. An endpoint that answers neither keeps its state (logged); one that does not
 * answer at all is an error. The LocalStack tier resets with `resetLocalStack` (localstack.ts), which proves it.
 */
export async function resetEndpoint(endpoint: string, log: Log = stderrLog): Promise<void> {
  let unreachable: unknown;
  for (const path of ['/moto-api/reset', '/_localstack/state/reset']) {
    try {
      const { status, body } = await post(new URL(path, endpoint).href);
      if (status >= 200 && status < 300 && body.trim() !== '') return;
    } catch (error) {
      if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') unreachable = error;
    }
  }
  if (unreachable) throw new Error(`emulator at ${endpoint} is not reachable`, { cause: unreachable });
  log(kv('could not reset the endpoint; its state is kept', { endpoint }));
}

async function post(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST' });
  const body = await response.text();
  if (response.status >= 500) throw new Error(`POST ${url} answered ${response.status}`);
  return { status: response.status, body };
}
