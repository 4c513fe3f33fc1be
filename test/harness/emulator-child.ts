/**
 * Starts an emulator (moto, or LocalStack when the first argument is `localstack`) and then idles, printing `{"endpoint", "port", "pid"}` as one JSON line on stdout. The
 * orphan tests (test/integration/harness.test.ts, test/localstack/processes.test.ts) SIGKILL this process and
 * check that the emulator went with it.
 * Run it as `node --import tsx test/harness/emulator-child.ts`: the `tsx` CLI would put a second Node
 * process in between, which SIGKILL would not reach.
 */
import { startEmulator } from './emulator.ts';
import { startLocalStack } from './localstack.ts';

const quiet = { log: () => {} };
const emulator = process.argv[2] === 'localstack' ? await startLocalStack(quiet) : await startEmulator(quiet);
process.stdout.write(
  `${JSON.stringify({ endpoint: emulator.endpoint, port: emulator.port, pid: emulator.pid })}\n`,
);
// The emulator's handles are unref'd so forgotten emulators never hold a script open; this one must idle.
setInterval(() => {}, 60_000);
