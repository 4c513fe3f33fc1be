// Shared by `npm test` and `npm run demo`: make a fresh clone runnable with no other step.
// Plain Node with no dependencies, because it runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Installs npm packages when node_modules is missing or was installed from another package-lock.json, with
 * `npm ci`: exactly the locked versions, as users' pipelines install them. The lock file lists every
 * platform's optional binaries (biome, rollup, esbuild); one updated in place over an existing node_modules
 * can lose them, and `npm ci` then refuses: test/unit/lockfile.test.ts checks the lock stays complete.
 */
export function ensureNodeModules() {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const digest = createHash('sha256').update(lock).digest('hex');
  const stamp = join(root, 'node_modules', '.snapkeeper-lock-digest');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  console.error('snapkeeper: installing npm packages (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('snapkeeper: npm ci failed; see the output above');
    process.exit(result.status ?? 1);
  }
  mkdirSync(join(root, 'node_modules'), { recursive: true });
  writeFileSync(stamp, digest);
}

/** Runs a binary from node_modules/.bin and exits with its status. */
export function runBin(bin, args) {
  const result = spawnSync(join(root, 'node_modules', '.bin', bin), args, { cwd: root, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
