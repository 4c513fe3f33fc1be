import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmulator } from './emulator.ts';
import { type EmulatorKind, emulatorKindOf } from './emulator-choice.ts';
import { startLocalStack } from './localstack.ts';
import { PERMISSION_RECORD_FILE, RECORDING_PROJECT } from './permission-record-file.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The project's emulator, e.g. `http://localhost:40123`; per-file.ts puts it in `AWS_ENDPOINT_URL`. */
    emulatorEndpoint: string;
    /** False when the tests run against an external `AWS_ENDPOINT_URL` (LocalStack) the harness did not start. */
    emulatorManaged: boolean;
    /** Which emulator the harness started: per-file.ts resets LocalStack through its proving reset. */
    emulatorKind: EmulatorKind;
    /** Where the integration tier records the AWS calls of each Lambda (permission-recording.ts). */
    permissionRecordFile?: string;
  }
}

/**
 * Starts one emulator per vitest project, in the main process, and hands it to the test workers through
 * `provide`/`inject`: workers are separate processes, so setting process.env here would not reach them
 * reliably. The teardown always runs (vitest calls it after failures too); if vitest itself dies, moto (or
 * LocalStack's launcher) exits on its own when its stdin closes. The integration tier also starts a fresh permission record.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kind = emulatorKindOf(project.name);
  const emulator = kind === 'localstack' ? await startLocalStack() : await startEmulator();
  project.provide('emulatorEndpoint', emulator.endpoint);
  project.provide('emulatorManaged', emulator.managed);
  project.provide('emulatorKind', kind);
  if (project.name === RECORDING_PROJECT) {
    mkdirSync(dirname(PERMISSION_RECORD_FILE), { recursive: true });
    writeFileSync(PERMISSION_RECORD_FILE, '');
    project.provide('permissionRecordFile', PERMISSION_RECORD_FILE);
  }
  return () => emulator.stop();
}
