// `npm test`: installs what is missing, then checks everything: types, lint and format, and every test tier
// (unit, integration on the emulator, infra with a deploy to the emulator). The emulator itself is installed
// and started by the test harness (test/harness/). Extra arguments go to vitest (e.g. `npm test -- --project unit`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureNodeModules, root, runBin } from './bootstrap.mjs';

ensureNodeModules();
const vitestArgs = process.argv.slice(2);
if (vitestArgs.length === 0) {
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
}
runBin('vitest', ['run', ...vitestArgs]);
