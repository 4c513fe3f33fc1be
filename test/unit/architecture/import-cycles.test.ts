import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { importCycles, importsOf, FUNCTIONS as root } from '../../support/import-graph.ts';

// No module under functions/ may import itself back, through any chain, even by types alone: a cycle ties two
// capabilities into one (the lifecycle's twins grew out of one), hands a module half-initialised exports at run
// time, and, by types, says the lower module knows the higher one.

describe('the imports under functions/', () => {
  it('form no cycle, counting type-only imports', () => {
    expect(importCycles(root, { types: true })).toEqual([]);
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

describe('the cycle check', () => {
  let base: string | undefined;
  afterEach(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });
  const tree = (files: Record<string, string>) => {
    base = mkdtempSync(join(tmpdir(), 'import-cycles-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(base, path)), { recursive: true });
      writeFileSync(join(base, path), text);
    }
    return `${base}/`;
  };

  it('finds a cycle closed by a type-only import, and only when types are asked for', () => {
    const at = tree({
      'core/model/errors.ts': "import type { Take } from '#core/backup/take.ts';\nexport class E {}\n",
      'core/backup/take.ts': "import { E } from '../model/errors.ts';\nexport type Take = E;\n",
    });
    expect(importCycles(at, { types: true })).toEqual([
      ['core/backup/take.ts', 'core/model/errors.ts', 'core/backup/take.ts'],
    ]);
    expect(importCycles(at)).toEqual([]);
  });

  it('finds a longer run-time cycle through export-from and dynamic imports', () => {
    const at = tree({
      'a.ts': "export { b } from './b.ts';\n",
      'b.ts': "export const b = () => import('./c.ts');\n",
      'c.ts': "import { b } from './a.ts';\nexport const c = b;\n",
      'd.ts': "import { c } from './c.ts';\n",
    });
    expect(importCycles(at)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('passes a tree whose imports all point one way', () => {
    const at = tree({
      'core/model/errors.ts': 'export class E {}\n',
      'core/backup/take.ts': "import type { E } from '#core/model/errors.ts';\nexport type Take = E;\n",
      'cli/main.ts':
        "import type { Take } from '#core/backup/take.ts';\nimport { E } from '#core/model/errors.ts';\n",
    });
    expect(importCycles(at, { types: true })).toEqual([]);
  });
});
