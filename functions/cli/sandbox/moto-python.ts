import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The moto release the harness installs; 5.2.1 is what the machine image carries as a fallback. */
export const MOTO_SPEC = 'moto[server]==5.2.5';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const stateDir = join(repoRoot, '.snapkeeper');
const venvDir = join(stateDir, 'venv');
const venvPython = join(venvDir, 'bin', 'python');
const stampFile = join(venvDir, '.snapkeeper-stamp');
const lockDir = join(stateDir, 'venv.lock');
const failedStamp = join(stateDir, 'moto-install-failed');

/** After a failed pip install, the fallback is used without retrying for this long, so a machine without
 * PyPI does not pay for a timing-out pip on every test run. Delete `.snapkeeper/moto-install-failed` to retry. */
const RETRY_INSTALL_AFTER_MS = 15 * 60_000;
/** A lock older than this is treated as left behind by a killed installer. */
const STALE_LOCK_MS = 10 * 60_000;

export type Log = (msg: string) => void;

/** Structured stderr line: constant message, data in key=value pairs. */
export function stderrLog(msg: string): void {
  process.stderr.write(`[snapkeeper:emulator] ${msg}\n`);
}

export function kv(message: string, data: Record<string, string | number | undefined> = {}): string {
  const pairs = Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return [message, ...pairs].join(' ');
}

/**
 * Returns a Python interpreter that can `import moto`: the project venv (created on first use, guarded by a
 * lock so two vitest processes do not pip-install into the same directory), else the machine's `python3`.
 */
export async function motoPython(log: Log = stderrLog): Promise<string> {
  if (await venvReady()) return venvPython;
  if (await recentlyFailed()) {
    log(kv('skipping the moto install after a recent failure', { retryAfterDeleting: failedStamp }));
  } else {
    await withLock(lockDir, log, async () => {
      if (await venvReady()) return; // another process finished the install while we waited
      await installVenv(log);
    });
    if (await venvReady()) return venvPython;
  }
  const fallback = await systemMotoVersion();
  if (!fallback) {
    throw new Error(
      `moto is not available: installing ${MOTO_SPEC} into ${venvDir} failed and python3 cannot import moto`,
    );
  }
  log(kv('using preinstalled moto instead of the pinned one', { version: fallback, wanted: MOTO_SPEC }));
  return 'python3';
}

async function venvReady(): Promise<boolean> {
  if (!existsSync(venvPython)) return false;
  const stamp = await readFile(stampFile, 'utf8').catch(() => '');
  return stamp.trim() === MOTO_SPEC;
}

async function recentlyFailed(): Promise<boolean> {
  const info = await stat(failedStamp).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < RETRY_INSTALL_AFTER_MS;
}

async function installVenv(log: Log): Promise<void> {
  const started = Date.now();
  try {
    await rm(venvDir, { recursive: true, force: true });
    log(kv('creating Python virtual environment', { path: venvDir }));
    await run('python3', ['-m', 'venv', venvDir]);
    log(kv('installing moto into the virtual environment (first run only)', { spec: MOTO_SPEC }));
    await run(venvPython, [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--quiet',
      '--retries',
      '1',
      '--timeout',
      '20',
      MOTO_SPEC,
    ]);
    await writeFile(stampFile, `${MOTO_SPEC}\n`);
    await rm(failedStamp, { force: true });
    log(kv('moto installed', { spec: MOTO_SPEC, seconds: Math.round((Date.now() - started) / 1000) }));
  } catch (error) {
    log(kv('installing moto failed', { spec: MOTO_SPEC, error: (error as Error).message }));
    await mkdir(stateDir, { recursive: true });
    await writeFile(failedStamp, `${new Date().toISOString()} ${(error as Error).message}\n`);
  }
}

async function systemMotoVersion(): Promise<string | undefined> {
  try {
    return (await run('python3', ['-c', 'import moto; print(moto.__version__)'])).trim();
  } catch {
    return undefined;
  }
}

/**
 * Runs `body` holding the install lock `lock` (a directory under `.snapkeeper/`). mkdir is atomic, so the lock
 * directory is held by exactly one process; its owner file names the pid.
 */
export async function withLock(lock: string, log: Log, body: () => Promise<void>): Promise<void> {
  await mkdir(dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await lockIsStale(lock)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(kv('waiting for another process installing into .snapkeeper', { lock }));
      announced = true;
      await sleep(500);
    }
  }
  try {
    await writeFile(join(lock, 'owner'), `${process.pid}\n`);
    await body();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function lockIsStale(lock: string): Promise<boolean> {
  const info = await stat(lock).catch(() => undefined);
  if (!info) return false; // released meanwhile; the next mkdir will tell
  if (Date.now() - info.mtimeMs > STALE_LOCK_MS) return true;
  const owner = Number.parseInt(await readFile(join(lock, 'owner'), 'utf8').catch(() => ''), 10);
  if (Number.isNaN(owner)) return Date.now() - info.mtimeMs > 5_000; // owner file not yet written
  try {
    process.kill(owner, 0);
    return false;
  } catch {
    return true; // the installer died without releasing the lock
  }
}

/** Runs a command to completion; rejects with the tail of its output when it fails. */
export function run(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${output.slice(-2000)}`));
    });
  });
}
