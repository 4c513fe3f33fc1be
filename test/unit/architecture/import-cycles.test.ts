import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, importsOf, FUNCTIONS as root } from '../../support/import-graph.ts';

// No module under functions/ may import itself back at run time, through any chain: a cycle ties two
// capabilities into one (the lifecycle's twins grew out of one), and hands a module half-initialised exports.

describe('the imports under functions/', () => {
  it('form no cycle when the code runs', () => {
    expect(importCycles(root)).toEqual([]);
  });

  it('are all read, subpath and relative, and type-only ones only when asked for', () => {
    const prune = join(root, 'core/lifecycle/prune.ts');
    expect(importsOf(prune, root)).toEqual(
      expect.arrayContaining([join(root, 'core/lifecycle/replica.ts'), join(root, 'core/model/errors.ts')]),
    );
    expect(importsOf(prune, root)).not.toContain(join(root, 'core/lifecycle/ports.ts'));
    expect(importsOf(prune, root, { types: true })).toContain(join(root, 'core/lifecycle/ports.ts'));
  });
});
