import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bench, describe } from 'vitest';
import { repoRoot } from '../support/cli.ts';

// How long `snapkeeper` takes to answer before it does any work: `--version`, `--help`, a command's `--help`, and
// `validate` (a command that loads its module and the config but calls no AWS API), each a fresh process as a user
// starts it (bin/snapkeeper.mjs, the TypeScript through tsx). Baselines in the same run: `node -e 0` (Node's own
// start) and the composition root imported alone (the AWS SDK and every adapter: what each command used to load
// for every other command too), and every command module loaded, as `--help` did before it loaded none. Prints
// the times and the ratios; asserts nothing timed.

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
const bin = join(repoRoot, 'bin', 'snapkeeper.mjs');
const config = join(repoRoot, 'snapkeeper.config.json');
const cases: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  [
    'the composition root alone (tsx)',
    ['--import', 'tsx', '--input-type=module', '-e', "await import('#wiring')"],
  ],
  [
    'every command module (what --help loaded before)',
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "for (const c of (await import('#cli/commands/index.ts')).COMMANDS) await c.load()",
    ],
  ],
  ['snapkeeper --version', [bin, '--version']],
  ['snapkeeper --help', [bin, '--help']],
  ['snapkeeper restore --help', [bin, 'restore', '--help']],
  ['snapkeeper validate', [bin, 'validate', '--config', config, '-q']],
];
function start(name: string, args: string[]): void {
  const child = spawnSync(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`${name} exited ${child.status}: ${child.stderr}`);
}

// Vitest prints each case's times and, in its summary, how many times faster `node -e 0` is than each.
describe('CLI startup, a fresh process each time', () => {
  for (const [name, args] of cases) {
    bench(name, () => start(name, args), { iterations: RUNS, warmupIterations: 1, time: 0 });
  }
});
