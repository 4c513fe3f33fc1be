import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '#core/config/config.ts';
import { PERMISSION_RECORD_FILE } from '../harness/permission-record-file.ts';
import {
  checkContract,
  describeViolation,
  type RecordedRun,
  readRecords,
  unrecordedFunctions,
} from './iam/contract.ts';
import { repoConfigFile, repoRoot, SYNTH_TIMEOUT_MS, templateFor } from './synth.ts';

// The permission contract: every AWS call each Lambda's code made during the integration tier (recorded by
// test/harness/permission-recording.ts) must be allowed by that Lambda's role in the template synthesized from
// the same configuration, with the resource and the condition keys the call carried. The emulator enforces no
// IAM, so this is what stands between a missing permission and a stack that fails only in AWS.

let run: RecordedRun;
beforeAll(() => {
  run = readRecords(PERMISSION_RECORD_FILE);
});

/** The newest source file the Lambdas are built from. */
function newestSource(dir: string): { path: string; mtimeMs: number } {
  let newest = { path: dir, mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const candidate = entry.isDirectory() ? newestSource(path) : { path, mtimeMs: statSync(path).mtimeMs };
    if (candidate.mtimeMs > newest.mtimeMs) newest = candidate;
  }
  return newest;
}

describe('the permission contract', () => {
  it('reads calls recorded after the last change to the Lambdas’ code', () => {
    const newest = newestSource(join(repoRoot.pathname, 'functions'));
    const recorded = statSync(PERMISSION_RECORD_FILE).mtimeMs;
    expect(
      recorded >= newest.mtimeMs,
      `${newest.path} changed after the calls were recorded; run the integration tier again`,
    ).toBe(true);
  });

  it(
    'has recorded calls of every Lambda the stack deploys',
    async () => {
      const config = await loadConfigFile(repoConfigFile);
      expect(unrecordedFunctions(run, templateFor(config), config.region)).toEqual([]);
    },
    SYNTH_TIMEOUT_MS,
  );

  it(
    "allows every call each Lambda made, on its resource and with its conditions, in that Lambda's role",
    () => {
      const result = checkContract(run, templateFor);
      expect(result.checked).toBeGreaterThan(0);
      expect(result.violations.map(describeViolation)).toEqual([]);
    },
    SYNTH_TIMEOUT_MS * 4,
  );
});
