// `npm test`: installs what is missing, then checks everything: types, lint and format, and every test tier
// (unit, the freeze script on loop filesystems (root), integration on the emulator, infra with a deploy to the
// emulator, the integration tier again on LocalStack, and the 60-day retention replay).
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
// tiers; its tier, which runs last, waits for it. A failed install is reported by the tier itself.
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

// The replay is minutes of calls to its own emulator, one core's worth; it runs beside the other tiers, its
// output held back so the two do not interleave, and printed when both are done.
console.error('snapkeeper: the 60-day replay runs in the background beside the other tiers…');
let replayOutput = '';
const replay = spawn(vitest, ['run', '--project', 'replay'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
});
replay.stdout.on('data', (chunk) => {
  replayOutput += chunk;
});
replay.stderr.on('data', (chunk) => {
  replayOutput += chunk;
});
const replayDone = new Promise((resolve) => replay.on('close', (code) => resolve(code ?? 1)));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    replay.kill(signal);
    localstackInstall.kill(signal);
  });
}

// Every project but the replay, LocalStack's and the benchmarks (`npm run bench`).
const tier = (projects) =>
  spawnSync(vitest, ['run', ...projects.flatMap((project) => ['--project', project])], {
    cwd: root,
    stdio: 'inherit',
  });
const main = tier(['unit', 'freeze', 'integration', 'infra']);
// LocalStack's tier after them, in its own vitest run: vitest starts every project's emulator before any test, so
// in the same run LocalStack's install would hold up the first tiers instead of overlapping them.
const localstack = tier(['localstack']);
const replayStatus = await replayDone;
process.stdout.write(`\n${replayOutput}`);
const failed = [
  main.status !== 0 && 'unit, freeze, integration and infra',
  localstack.status !== 0 && 'localstack',
  replayStatus !== 0 && 'replay',
].filter(Boolean);
if (failed.length > 0) console.error(`snapkeeper: tests failed in: ${failed.join('; ')}`);
process.exit(failed.length > 0 ? 1 : 0);
