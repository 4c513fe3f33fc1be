import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** Whether the dependency `name` of the package at `path` is locked where Node would find it: in the
 * package's own node_modules or in any node_modules above it. */
function resolvable(path: string, name: string): boolean {
  const parts = path.split('/node_modules/');
  for (let depth = parts.length; depth >= 0; depth--) {
    const base = parts.slice(0, depth).join('/node_modules/');
    if (`${base ? `${base}/` : ''}node_modules/${name}` in lock.packages) return true;
  }
  return false;
}

describe('package-lock.json', () => {
  // `npm ci` (what users' pipelines and scripts/bootstrap.mjs run) refuses a lock file that lacks an optional
  // package another one names, which is what a lock updated in place on one platform ends up with.
  it('lists every optional package that any locked package names, for every platform', () => {
    const missing = Object.entries(lock.packages).flatMap(([path, entry]) =>
      Object.keys(entry.optionalDependencies ?? {})
        .filter((name) => !resolvable(path, name))
        .map((name) => `${path || '(root)'} → ${name}`),
    );
    expect(missing, 'regenerate the lock file from scratch: see docs/emulator.md').toEqual([]);
  });
});
