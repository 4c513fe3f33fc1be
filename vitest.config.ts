import type { TestProjectInlineConfiguration } from 'vitest/config';
import { defineConfig } from 'vitest/config';
import { LOCALSTACK_EXCLUDED, LOCALSTACK_PROJECT } from './test/harness/emulator-choice.ts';

/**
 * A project whose files talk to the local emulator (moto, or whatever `AWS_ENDPOINT_URL` names).
 *
 * Each such project gets one emulator (test/harness/global-setup.ts), reset before every file
 * (test/harness/per-file.ts), and runs its files one after another in a single fork (`singleFork`), so no
 * two files ever share emulator state. Measured on the 2-core build machine with six EC2+SSM files:
 * serial in one fork 11.8-12.1 s; one emulator per worker with 2 workers 14.1-18.2 s; a fresh process per
 * file 20.7 s. Keeping one process avoids re-importing the AWS SDK for every file, which costs more than
 * parallelism wins on two cores, and moto (one Python process) is the shared bottleneck anyway.
 * Vitest runs `singleFork` projects one after another, so integration and infra never overlap either, which
 * also keeps a shared LocalStack safe.
 */
function emulatorProject(
  name: string,
  overrides: {
    include: string[];
    exclude?: string[];
    benchInclude?: string[];
    singleFork?: boolean;
    setupFiles?: string[];
    groupOrder?: number;
  },
) {
  return {
    test: {
      name,
      include: overrides.include,
      exclude: overrides.exclude ?? [],
      benchmark: { include: overrides.benchInclude ?? [] },
      globalSetup: ['test/harness/global-setup.ts'],
      setupFiles: ['test/harness/per-file.ts', ...(overrides.setupFiles ?? [])],
      sequence: { groupOrder: overrides.groupOrder ?? 0 },
      poolOptions: { forks: { singleFork: overrides.singleFork ?? true } },
      // Real calls against the emulator, and CDK deploys in infra, are slower than unit tests.
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  } satisfies TestProjectInlineConfiguration;
}

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          benchmark: { include: [] },
        },
      },
      // The real freeze script on loop-mounted filesystems: needs root (see its global setup), no emulator.
      {
        test: {
          name: 'freeze',
          include: ['test/freeze/**/*.test.ts'],
          benchmark: { include: [] },
          globalSetup: ['test/freeze/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      emulatorProject('integration', {
        include: ['test/integration/**/*.test.ts'],
        exclude: ['test/integration/replay.test.ts'],
        // Records every AWS call each Lambda's code makes, for the permission contract test in infra.
        setupFiles: ['test/harness/permission-recording.ts'],
      }),
      // The same integration files on LocalStack core in host mode (`npm run test:localstack`), less the named
      // exclusions; no permission recording, which the moto tier does for the infra tier. Last, after infra.
      emulatorProject(LOCALSTACK_PROJECT, {
        include: ['test/integration/**/*.test.ts', 'test/localstack/**/*.test.ts'],
        exclude: LOCALSTACK_EXCLUDED.map((excluded) => excluded.file),
        groupOrder: 2,
      }),
      // The six-week replay is minutes of emulator calls: its own project and emulator, so it runs beside the
      // other tiers on the second core instead of after them.
      emulatorProject('replay', { include: ['test/integration/replay.test.ts'], singleFork: false }),
      // After integration (a higher group runs after every lower one), because its permission contract test
      // reads the calls the integration tier recorded.
      emulatorProject('infra', { include: ['test/infra/**/*.test.ts'], groupOrder: 1 }),
      // `npm run bench`: benchmarks get their own emulator too; they print figures and assert nothing.
      emulatorProject('bench', { include: [], benchInclude: ['test/bench/**/*.bench.ts'] }),
    ],
  },
});
