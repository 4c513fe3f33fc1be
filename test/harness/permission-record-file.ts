import { fileURLToPath } from 'node:url';

/** The vitest project whose runs record each Lambda's AWS calls. */
export const RECORDING_PROJECT = 'integration';

/**
 * The calls the integration tier recorded, one JSON object a line: emptied when the tier starts, appended by
 * each of its files, read by the permission contract test in the infra tier (which vitest runs after it).
 * In the repository (git-ignored), not in `.snapkeeper/`, which checkouts of one machine may share.
 */
export const PERMISSION_RECORD_FILE = fileURLToPath(
  new URL('../../.test-records/permission-calls.jsonl', import.meta.url),
);
