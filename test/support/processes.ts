import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EmulatorKind } from '../harness/emulator-choice.ts';

/** Processes the emulator tests start and expect gone: a child that starts an emulator, and checks on pids. */

/** `node --import tsx`, not the `tsx` CLI: the CLI runs the script in a grandchild that SIGKILL would miss. */
export function spawnEmulatorChild(kind: EmulatorKind = 'moto') {
  const script = fileURLToPath(new URL('../harness/emulator-child.ts', import.meta.url));
  const { AWS_ENDPOINT_URL: _external, ...env } = process.env; // the child must start its own emulator
  return spawn(process.execPath, ['--import', 'tsx', script, kind], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

export async function firstJsonLine(stream: NodeJS.ReadableStream) {
  for await (const line of createInterface({ input: stream })) {
    return JSON.parse(line) as { endpoint: string; port: number; pid: number };
  }
  throw new Error('the emulator child exited without reporting its emulator');
}

/** A zombie (exited, not yet reaped by init) counts as gone. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return '';
    }
  })();
  return !/^\d+ \(.*\) Z/.test(stat);
}

export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Every process below `pid`, from the parent links in /proc (a process that put itself in a session of its own
 * is still its parent's child). */
export function descendantsOf(pid: number): { pid: number; command: string }[] {
  const children = new Map<number, { pid: number; command: string }[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      const command = stat.slice(stat.indexOf('(') + 1, close);
      children.set(ppid, [...(children.get(ppid) ?? []), { pid: Number(entry), command }]);
    } catch {
      // gone while listing
    }
  }
  const found: { pid: number; command: string }[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of children.get(next) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}
