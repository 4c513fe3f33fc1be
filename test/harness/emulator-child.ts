/**
 * Starts an emulator and then idles, printing `{"endpoint", "port", "pid"}` as one JSON line on stdout. The
 * orphan test (test/integration/harness.test.ts) SIGKILLs this process and checks that moto went with it.
 * Run it as `node --import tsx test/harness/emulator-child.ts`: the `tsx` CLI would put a second Node
 * process in between, which SIGKILL would not reach.
 */
import { startEmulator } from './emulator.ts';

const emulator = await startEmulator({ log: () => {} });
process.stdout.write(
  `${JSON.stringify({ endpoint: emulator.endpoint, port: emulator.port, pid: emulator.pid })}\n`,
);
// The emulator's handles are unref'd so forgotten emulators never hold a script open; this one must idle.
setInterval(() => {}, 60_000);
