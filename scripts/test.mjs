// `npm test`: installs what is missing, then checks everything: types, lint and format, and every test tier
// (unit, the freeze script on loop filesystems (root), integration on the emulator, infra with a deploy to the
// emulator, the integration tier again on LocalStack, and the six-week retention replay).
// The emulator itself is installed and started by the test harness (test/harness/). Extra arguments go to
// vitest alone (e.g. `npm test -- --project unit`).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureNodeModules, root, runBin } from './bootstrap.mjs';

ensureNodeModules();
const vitest = join(root, 'node_modules', '.bin', 'vitest');
const vitestArgs = process.argv.slice(2);
if (vitestArgs.length > 0) runBin('vitest', ['run', ...vitestArgs]);

// LocalStack's install (a venv, about 90 s on a fresh clone) starts now and overlaps the checks and the other
// tiers; its tier, which runs after the replay, waits for it. A failed install is reported by the tier itself.
const localstackInstall = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'test', 'harness', 'localstack-prepare.ts')],
  { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
);
localstackInstall.on('error', () => {});

for (const [bin, args, what] of [
  ['tsc', ['--noEmit'], 'type check'],
  ['biome', ['check', '.'], 'lint and format check'],
]) {
  console.error(`snapkeeper: ${what}…`);
  const result = spawnSync(join(root, 'node_modules', '.bin', bin), args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`snapkeeper: ${what} failed (fix it, or run \`npm run format\` for formatting)`);
    process.exit(result.status ?? 1);
  }
}

// Two lanes, one per core. The background lane: the replay (minutes of calls to its own emulator, one core's
// worth), then the integration tier again on LocalStack, in a vitest run of its own (vitest starts every project's
// emulator before any test, so in one run LocalStack's install would hold up the others instead of overlapping
// them). The foreground lane: unit, freeze, integration and infra. The background lane's output is held back so
// the two do not interleave, and printed when both are done. Measured on a fresh clone of the 2-core machine, the
// lanes take about 10 and 11 minutes (docs/benchmarks.md#the-suite-and-the-demo).
console.error(
  'snapkeeper: the six-week replay, then the LocalStack tier, run in the background beside the other tiers…',
);
let backgroundOutput = '';
let running;
const background = (projects) =>
  new Promise((resolve) => {
    running = spawn(vitest, ['run', ...projects.flatMap((project) => ['--project', project])], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.stdout.on('data', (chunk) => {
      backgroundOutput += chunk;
    });
    running.stderr.on('data', (chunk) => {
      backgroundOutput += chunk;
    });
    running.on('close', (code) => resolve(code ?? 1));
  });
const backgroundDone = (async () => {
  const replay = await background(['replay']);
  const localstack = await background(['localstack']);
  return { replay, localstack };
})();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    running?.kill(signal);
    localstackInstall.kill(signal);
  });
}

// Every project but the replay, LocalStack's and the benchmarks (`npm run bench`).
const main = spawnSync(
  vitest,
  ['run', '--project', 'unit', '--project', 'freeze', '--project', 'integration', '--project', 'infra'],
  { cwd: root, stdio: 'inherit' },
);
const { replay, localstack } = await backgroundDone;
process.stdout.write(`\n${backgroundOutput}`);
const failed = [
  main.status !== 0 && 'unit, freeze, integration and infra',
  replay !== 0 && 'replay',
  localstack !== 0 && 'localstack',
].filter(Boolean);
if (failed.length > 0) console.error(`snapkeeper: tests failed in: ${failed.join('; ')}`);
process.exit(failed.length > 0 ? 1 : 0);
