// `npm test`: installs what is missing, then runs every tier (unit, integration on the emulator, infra).
// The emulator itself is installed and started by the test harness (test/harness/).
import { ensureNodeModules, runBin } from './bootstrap.mjs';

ensureNodeModules();
runBin('vitest', ['run', ...process.argv.slice(2)]);
