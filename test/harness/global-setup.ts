import type { TestProject } from 'vitest/node';
import { startEmulator } from './emulator.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The project's emulator, e.g. `http://localhost:40123`; per-file.ts puts it in `AWS_ENDPOINT_URL`. */
    emulatorEndpoint: string;
    /** False when the tests run against an external `AWS_ENDPOINT_URL` (LocalStack) the harness did not start. */
    emulatorManaged: boolean;
  }
}

/**
 * Starts one emulator per vitest project, in the main process, and hands it to the test workers through
 * `provide`/`inject`: workers are separate processes, so setting process.env here would not reach them
 * reliably. The teardown always runs (vitest calls it after failures too); if vitest itself dies, moto
 * exits on its own when its stdin closes.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const emulator = await startEmulator();
  project.provide('emulatorEndpoint', emulator.endpoint);
  project.provide('emulatorManaged', emulator.managed);
  return () => emulator.stop();
}
