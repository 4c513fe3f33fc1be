import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { test } from 'vitest';
import { FreezeDocuments } from '../../infra/freeze-documents.ts';

/**
 * Runs snapkeeper's Linux freeze document as the SSM agent would, on real loop-mounted filesystems. Only what
 * cannot be real here is simulated: the agent (substitute the `{{ }}` parameters, checked against the document's
 * own `allowedPattern`s, and run the script with /bin/sh), `lsblk` (a fake on PATH gives the rig's loop devices
 * an EBS serial and hides every other device, so nothing of the host is ever frozen), the SSM agent's state
 * directory and the freeze state directory (under the rig's folder, so rigs never share a lock).
 */

interface DocumentParameter {
  allowedValues?: string[];
  allowedPattern?: string;
}
const document = (() => {
  const stack = new Stack(new App(), 'FreezeRig');
  const content = new FreezeDocuments(stack, 'Documents').linux.content as {
    parameters: Record<string, DocumentParameter>;
    mainSteps: { inputs: { runCommand: string[] } }[];
  };
  return { parameters: content.parameters, script: content.mainSteps[0]?.inputs.runCommand.join('\n') ?? '' };
})();

/** The document's script with its parameters filled in, refusing values SSM would refuse. */
export function renderDocument(parameters: Record<string, string>): string {
  for (const [name, spec] of Object.entries(document.parameters)) {
    const value = parameters[name];
    if (value === undefined) throw new Error(`parameter ${name} missing`);
    const allowed = spec.allowedValues?.includes(value) ?? new RegExp(spec.allowedPattern ?? '').test(value);
    if (!allowed) throw new Error(`SSM would refuse ${name}=${value}`);
  }
  return document.script.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => parameters[name] ?? '');
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From the start of the command to its end. */
  ms: number;
}

export interface Filesystem {
  image: string;
  device: string;
  mount: string;
  /** The volume id the fake lsblk gives the device as its NVMe serial (`vol0…`). */
  volumeId: string;
}

const sh = (command: string, ...args: string[]) => execFileSync(command, args, { encoding: 'utf8' }).trim();

export class FreezeRig {
  readonly root = mkdtempSync('/tmp/snapkeeper-freeze-');
  readonly state = join(this.root, 'state');
  private readonly bin = join(this.root, 'bin');
  private readonly devices = join(this.root, 'devices');
  private readonly agentDir = join(this.root, 'agent-state');
  private readonly filesystems: Filesystem[] = [];
  private readonly mounts: string[] = [];
  private readonly probes: Promise<unknown>[] = [];
  private readonly env: Record<string, string> = {};
  private readonly realSync = sh('sh', '-c', 'command -v sync');

  constructor() {
    mkdirSync(this.bin);
    mkdirSync(this.agentDir);
    writeFileSync(this.devices, '');
    // Only the rig's devices look like EBS volumes; every other device gets a parent disk no filter accepts.
    this.tool(
      'lsblk',
      `field=$2; dev=$3
case "$field" in
PKNAME) grep -q "^$dev " "${this.devices}" || echo not-a-rig-device ;;
SERIAL) grep "^$dev " "${this.devices}" | cut -d' ' -f2 ;;
esac`,
    );
  }

  /** A fresh filesystem on a loop device, mounted at `mountName` (which may contain spaces). */
  filesystem(mountName: string, type: 'ext4' | 'xfs' = 'ext4'): Filesystem {
    const n = this.filesystems.length;
    const image = join(this.root, `fs${n}.img`);
    // xfs refuses filesystems under 300 MB; the image is sparse, so the size costs nothing.
    sh('truncate', '-s', type === 'xfs' ? '320M' : '32M', image);
    if (type === 'xfs') sh('mkfs.xfs', '-q', image);
    else sh('mkfs.ext4', '-q', '-F', image);
    const device = sh('losetup', '--find', '--show', image);
    const mount = join(this.root, mountName);
    mkdirSync(mount, { recursive: true });
    const volumeId = `vol-0f${String(n).padStart(15, '0')}`;
    const fs = { image, device, mount, volumeId };
    this.filesystems.push(fs);
    try {
      sh('mount', device, mount);
    } catch (error) {
      sh('losetup', '-d', device);
      throw error;
    }
    this.mounts.push(mount);
    writeFileSync(this.devices, `${device} ${volumeId.replace('-', '')}\n`, { flag: 'a' });
    return fs;
  }

  /** Mounts `fs` a second time, at `mountName`. */
  bind(fs: Filesystem, mountName: string): string {
    const mount = join(this.root, mountName);
    mkdirSync(mount, { recursive: true });
    sh('mount', '--bind', fs.mount, mount);
    this.mounts.push(mount);
    return mount;
  }

  /** Puts the SSM agent's state directory on `fs`, as the root filesystem holds it on an instance. */
  agentOn(fs: Filesystem): void {
    rmSync(this.agentDir, { recursive: true });
    mkdirSync(join(fs.mount, 'ssm'));
    sh('ln', '-s', join(fs.mount, 'ssm'), this.agentDir);
  }

  /**
   * Makes the script see systemd as PID 1, with `systemd-run --on-active` and `systemctl stop` played by fakes on
   * PATH: a timer is a detached sleep, stopping it ends that sleep. Every call is logged; returns the log's path.
   */
  useSystemd(): string {
    const units = join(this.root, 'systemd');
    mkdirSync(join(units, 'system'), { recursive: true });
    this.env.SNAPKEEPER_SYSTEMD_DIR = join(units, 'system');
    this.tool(
      'systemd-run',
      `unit=''; delay=''
while [ $# -gt 0 ]; do
  case "$1" in --unit=*) unit=\${1#--unit=} ;; --on-active=*) delay=\${1#--on-active=} ;; --*) ;; *) break ;; esac
  shift
done
# Started by PID 1 in truth: nothing of the caller's, its lock's file descriptor included, is inherited.
setsid sh -c 'sleep "$1"; shift; exec "$@"' timer "$delay" "$@" </dev/null >/dev/null 2>&1 9>&- &
echo $! > "${units}/$unit.timer"
echo "run $unit $delay $*" >> "${units}/log"`,
    );
    this.tool(
      'systemctl',
      `[ "$1" = stop ] || exit 0
[ -f "${units}/$2" ] && kill -TERM "-$(cat "${units}/$2")" 2>/dev/null
echo "stop $2" >> "${units}/log"`,
    );
    return join(units, 'log');
  }

  /** Freezes `fs` as some other tool would, outside the script. */
  freezeOutside(fs: Filesystem): void {
    sh('fsfreeze', '-f', fs.mount);
  }

  /** Replaces `sync` with one that takes `seconds` first. */
  slowSync(seconds: number): void {
    this.tool('sync', `sleep ${seconds}\nexec ${this.realSync} "$@"`);
  }

  /** Runs the document with `Action`, `FreezeId`, `TimeoutSeconds` and `NotAfter` (in ms from now). */
  run(
    action: 'Freeze' | 'Thaw',
    freezeId: string,
    options: { timeoutSeconds: number; notAfterMs: number; shell?: string },
  ): Promise<RunResult> {
    const script = renderDocument({
      Action: action,
      FreezeId: freezeId,
      TimeoutSeconds: String(options.timeoutSeconds),
      NotAfter: new Date(Date.now() + options.notAfterMs).toISOString(),
    });
    const started = performance.now();
    const child = spawn(options.shell ?? '/bin/sh', ['-c', script], {
      env: {
        ...process.env,
        PATH: `${this.bin}:${process.env.PATH}`,
        SNAPKEEPER_STATE_DIR: this.state,
        SNAPKEEPER_AGENT_DIR: this.agentDir,
        // Without systemd unless the test asks for it: PID 1 is not systemd on the build machines either.
        SNAPKEEPER_SYSTEMD_DIR: join(this.root, 'no-systemd'),
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return collect(child, started);
  }

  /** Starts a write under `dir` and says whether it finished within `ms`: a frozen filesystem blocks it. */
  async write(dir: string, ms = 600): Promise<'written' | 'blocked'> {
    const write = this.startWrite(dir);
    // Timed from the writer's own start, so a slow spawn on a busy machine does not read as a frozen write.
    await write.ready;
    const finished = await Promise.race([write.done.then(() => true), sleep(ms).then(() => false)]);
    return finished ? 'written' : 'blocked';
  }

  /** Starts a write under `dir`; `done` resolves when it completed (a blocked one completes at the thaw). */
  startWrite(dir: string): { ready: Promise<void>; done: Promise<number> } {
    const child = spawn('/bin/sh', ['-c', 'echo ready; echo probe > "$1/probe-$$"', 'probe', dir], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const done = new Promise<number>((resolve) => child.on('exit', () => resolve(performance.now())));
    this.probes.push(done);
    return { ready, done };
  }

  /** Kills the freeze's watchdog, as an OOM killer or an operator might. */
  killWatchdog(freezeId: string): void {
    const pid = this.watchdogPid(freezeId);
    if (pid) killGroup(pid, 'SIGKILL');
  }

  /** Whether the freeze's watchdog process still runs: its pid, not a zombie, and not reused by another. */
  watchdogAlive(freezeId: string): boolean {
    return this.watchdogPid(freezeId) !== undefined;
  }

  private watchdogPid(freezeId: string): number | undefined {
    try {
      const pid = readFileSync(join(this.state, freezeId, 'watchdog.pid'), 'utf8').trim();
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      // A zombie (left for a PID 1 that does not reap) has an empty command line.
      return command.includes(`freeze.sh Watchdog ${freezeId} `) ? Number(pid) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Thaws every mount whatever happened (a blocked writer cannot even be killed before), then tears down. */
  async cleanup(): Promise<void> {
    for (const mount of this.mounts) spawnQuiet('fsfreeze', '-u', mount);
    await Promise.all(this.probes);
    for (const id of this.freezeIds()) {
      const pid = this.watchdogPid(id);
      if (pid) killGroup(pid, 'SIGTERM');
    }
    for (const pid of this.timerPids()) killGroup(pid, 'SIGTERM');
    for (const mount of [...this.mounts].reverse()) spawnQuiet('umount', mount);
    for (const fs of this.filesystems) spawnQuiet('losetup', '-d', fs.device);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The fake systemd timers still sleeping, recognised by their command line naming this rig. */
  private timerPids(): number[] {
    const units = join(this.root, 'systemd');
    if (!existsSync(units)) return [];
    return readdirSync(units)
      .filter((name) => name.endsWith('.timer'))
      .flatMap((name) => {
        const pid = readFileSync(join(units, name), 'utf8').trim();
        try {
          const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          return command.includes(this.root) ? [Number(pid)] : [];
        } catch {
          return [];
        }
      });
  }

  private freezeIds(): string[] {
    return existsSync(this.state)
      ? readdirSync(this.state, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [e.name] : []))
      : [];
  }

  private tool(name: string, body: string): void {
    const path = join(this.bin, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
  }
}

/** The watchdog leads its own process group (setsid): signalling the group ends its sleep too. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function spawnQuiet(command: string, ...args: string[]): void {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
  } catch {
    // Already thawed, unmounted or detached.
  }
}

function collect(child: ChildProcess, started: number): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started })),
  );
}

/**
 * `it` with a fresh rig for every test, always cleaned up after it (a frozen mount must never outlive a test).
 * A rig sees only its own devices, so the tests, which mostly wait on watchdogs and slow syncs, run concurrently.
 */
export const withRig = test.extend<{ rig: FreezeRig }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixture's dependencies from this pattern.
  rig: async ({}, use) => {
    const rig = new FreezeRig();
    try {
      await use(rig);
    } finally {
      await rig.cleanup();
    }
  },
});

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
