import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AwsClients } from '#adapters/clients.ts';
import { runCli } from '#cli/main.ts';

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, capturing what it prints. */
export async function cli(argv: string[], clients?: AwsClients): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    clients,
  });
  return { status, stdout, stderr };
}

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `npx snapkeeper` as a user would, as a separate process; `env` adds to or overrides the environment.
 * Asynchronous: a synchronous spawn blocks the test worker, which on a loaded machine misses vitest's RPC
 * deadline (60 s) and ends the whole run.
 */
export function cliProcess(argv: string[], cwd = repoRoot, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'snapkeeper', ...argv], {
      cwd,
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}
