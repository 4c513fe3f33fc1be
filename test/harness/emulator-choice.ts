/** The emulators the harness can start. */
export type EmulatorKind = 'moto' | 'localstack';

/** The vitest project that runs the integration tier on LocalStack (`npm run test:localstack`). */
export const LOCALSTACK_PROJECT = 'localstack';

/**
 * Integration files the LocalStack tier leaves out, each with why; vitest.config.ts excludes exactly these and
 * docs/emulator.md lists them (test/unit/harness/emulator-choice.test.ts checks both).
 */
export const LOCALSTACK_EXCLUDED: readonly { file: string; why: string }[] = [
  {
    file: 'test/integration/replay.test.ts',
    why: 'the six-week replay is minutes of calls on moto alone; it proves retention, not emulator behaviour',
  },
  {
    file: 'test/integration/realism.test.ts',
    why: "the realistic emulator's request layer (agents, throttling, the control endpoint) runs in front of moto's server, which LocalStack does not run",
  },
  {
    file: 'test/integration/sandbox.test.ts',
    why: 'the sandbox starts its own realistic moto, whichever emulator the tier runs on; once is enough',
  },
];

/**
 * The LocalStack project runs on LocalStack, every other on moto; `SNAPKEEPER_EMULATOR=localstack` (or `moto`)
 * makes any emulator project run on that one instead, e.g. a benchmark on LocalStack.
 */
export function emulatorKindOf(project: string, env: NodeJS.ProcessEnv = process.env): EmulatorKind {
  const chosen = env.SNAPKEEPER_EMULATOR;
  if (chosen === undefined || chosen === '') return project === LOCALSTACK_PROJECT ? 'localstack' : 'moto';
  if (chosen === 'moto' || chosen === 'localstack') return chosen;
  throw new Error(
    `SNAPKEEPER_EMULATOR=${chosen} is not an emulator the harness knows: use moto or localstack`,
  );
}
