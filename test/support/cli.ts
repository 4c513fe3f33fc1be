import { spawnSync } from 'node:child_process';
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

/** Runs `npx snapkeeper` as a user would, as a separate process; `env` adds to or overrides the environment. */
export function cliProcess(argv: string[], cwd = repoRoot, env: NodeJS.ProcessEnv = {}): CliResult {
  const result = spawnSync('npx', ['--no-install', 'snapkeeper', ...argv], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    timeout: 60_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
