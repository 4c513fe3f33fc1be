/**
 * Installs what the LocalStack tier needs (localstack-install.ts) and exits: `npm test` runs this in the background
 * at its start, so a fresh clone's install overlaps the type check and the first tiers instead of delaying the
 * LocalStack tier. The tier's global setup waits on the same lock if it gets there first.
 */

import { stderrLog } from '#cli/sandbox/moto-python.ts';
import { localStackParts } from './localstack-install.ts';

await localStackParts(stderrLog);
