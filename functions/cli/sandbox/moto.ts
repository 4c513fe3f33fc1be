import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { kv, type Log, motoPython, stderrLog } from './moto-python.ts';
import type { RealismSettings } from './realism.ts';

/** moto running under the launcher, with the realism layer in front, on loopback. */
export interface RunningMoto {
  /** Base URL for SDKs and aws-cli, e.g. `http://localhost:40123`. */
  endpoint: string;
  port: number;
  /** Process id of the moto launcher. */
  pid?: number;
  /** Stops moto: closes its stdin, SIGKILL after 3 s. */
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Progress and diagnostics; defaults to structured lines on stderr. */
  log?: Log;
  /** The port to bind on loopback; 0 (the default) takes a free one. */
  port?: number;
  /** Realism settings to start with and to return to on every reset (default: moto's instant answers). */
  realism?: RealismSettings;
}

/** The standard AWS environment that points SDKs and the CDK CLI at `endpoint` with moto's test identity. */
export function emulatorEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
  };
}

const launcher = fileURLToPath(new URL('./moto_launcher.py', import.meta.url));
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * Starts moto behind the realism layer (realism.py) on loopback, installing the pinned moto into `.snapkeeper/`
 * first if needed. The moto process dies with this Node process, however it ends.
 */
export async function startMoto(opts: StartMotoOptions = {}): Promise<RunningMoto> {
  const log = opts.log ?? stderrLog;
  const python = await motoPython(log);
  const bindHost = await loopbackHost();
  const started = Date.now();
  const child = spawn(python, [launcher, bindHost, String(opts.port ?? 0)], {
    // stdin stays a pipe we never write to: its EOF is the launcher's signal to exit (see moto_launcher.py).
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MOTO_EC2_LOAD_DEFAULT_AMIS: 'false',
      PYTHONUNBUFFERED: '1',
      SNAPKEEPER_REALISM: JSON.stringify(opts.realism ?? {}),
    },
  });
  const stderrTail = tailOf(child);
  const untrack = killWithParent(child);

  try {
    const port = await listeningPort(child, stderrTail);
    const endpoint = `http://localhost:${port}`;
    await waitHealthy(`http://${urlHost(bindHost)}:${port}`, child, stderrTail);
    log(kv('moto started', { endpoint, pid: child.pid, ms: Date.now() - started }));
    // A forgotten stop() must not keep a script alive; moto still goes when this process exits.
    unrefChild(child);
    return {
      endpoint,
      port,
      pid: child.pid,
      stop: async () => {
        untrack();
        await stopChild(child);
      },
    };
  } catch (error) {
    untrack();
    await stopChild(child);
    throw error;
  }
}

/** Binds where `localhost` points, so the `http://localhost:PORT` endpoint (which the CDK needs) reaches it. */
export async function loopbackHost(): Promise<string> {
  const addresses = await lookup('localhost', { all: true }).catch(() => []);
  if (addresses.length === 0 || addresses.some((a) => a.address === '127.0.0.1')) return '127.0.0.1';
  return addresses[0]?.address ?? '127.0.0.1';
}

export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Keeps the last lines moto wrote to stderr for error messages; also drains the pipe so moto never blocks. */
export function tailOf(child: ChildProcessWithoutNullStreams): () => string {
  const lines: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  });
  return () => lines.join('\n');
}

function listeningPort(child: ChildProcessWithoutNullStreams, tail: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error('timed out waiting for moto to listen')),
      STARTUP_TIMEOUT_MS,
    );
    const lines = createInterface({ input: child.stdout });
    const onExit = (code: number | null, signal: string | null) =>
      fail(new Error(`moto exited before listening (code ${code}, signal ${signal})`));
    function fail(error: Error): void {
      cleanup();
      reject(new Error(`${error.message}\n--- moto stderr (tail) ---\n${tail()}`));
    }
    function cleanup(): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
      child.stdout.resume(); // keep draining: a full stdout pipe would block moto
    }
    child.once('exit', onExit);
    child.once('error', (error) => fail(error));
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; port?: number };
        if (event.event === 'listening' && typeof event.port === 'number') {
          cleanup();
          resolve(event.port);
        }
      } catch {
        // not our JSON line; moto may print a banner
      }
    });
  });
}

async function waitHealthy(base: string, child: ChildProcessWithoutNullStreams, tail: () => string) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${base}/moto-api/data.json`);
      await response.arrayBuffer();
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`moto did not become healthy (${last})\n--- moto stderr (tail) ---\n${tail()}`);
}

export function unrefChild(child: ChildProcessWithoutNullStreams): void {
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as Socket).unref();
}

/** Closing stdin asks the launcher to exit; SIGKILL follows if it has not within 3 s. */
async function stopChild(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Stdin EOF already ends moto when this process dies; these hooks make it immediate on `exit`, SIGINT and
 * SIGTERM, and re-raise the signal when nobody else handles it so default termination still happens.
 */
function killWithParent(child: ChildProcessWithoutNullStreams): () => void {
  const onExit = () => child.kill('SIGKILL');
  const onSignal = (signal: NodeJS.Signals) => {
    child.kill('SIGKILL');
    untrack();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  function untrack(): void {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return untrack;
}
