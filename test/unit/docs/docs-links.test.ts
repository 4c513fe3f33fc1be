import { describe, expect, it } from 'vitest';
import { anchorsOf, linkProblems, quotedPathProblems } from '../../../scripts/docs/doc-checks.ts';
import { readRepositoryFile, repositoryPages } from './docs-pages.ts';

describe('links between the pages', () => {
  it('lead to files and headings that exist', () => {
    const pages = repositoryPages();
    expect(pages.map((p) => p.path)).toContain('docs/guarantees.md');
    expect(linkProblems(pages, readRepositoryFile)).toEqual([]);
  });

  it('use the anchors GitHub gives headings', () => {
    const anchors = anchorsOf(
      '## 2. Copied, within the quota\n### `policies[].copies[]`\n## Where this differs from SPEC §3\n## Tested\n## Tested\n',
    );
    expect([...anchors]).toEqual([
      '2-copied-within-the-quota',
      'policiescopies',
      'where-this-differs-from-spec-3',
      'tested',
      'tested-1',
    ]);
  });

  it('fail for a missing page or anchor', () => {
    const pages = [{ path: 'docs/a.md', text: 'see [b](b.md), [c](c.md#nowhere) and [code](../x.ts)' }];
    const files: Record<string, string> = { 'docs/c.md': '# Somewhere\n', 'x.ts': '' };
    expect(linkProblems(pages, (path) => files[path])).toEqual([
      'docs/a.md: links to b.md, but docs/b.md does not exist; fix the link',
      'docs/a.md: links to c.md#nowhere, but docs/c.md has no heading with that anchor; fix the link',
    ]);
  });
});

describe('source paths quoted in the pages', () => {
  it('exist, so the layout the pages describe is the one in the repository', () => {
    const pages = repositoryPages();
    expect(pages.find((p) => p.path === 'docs/architecture.md')?.text).toContain(
      '`functions/core/backup/run.ts`',
    );
    expect(quotedPathProblems(pages, readRepositoryFile)).toEqual([]);
  });

  it('fail for a path that moved, from the root or from functions/', () => {
    const pages = [
      {
        path: 'docs/a.md',
        text: '`core/model/errors.ts`, `test/x.test.ts` and `core/gone.ts` twice: `core/gone.ts`',
      },
    ];
    const files: Record<string, string> = { 'functions/core/model/errors.ts': '', 'test/x.test.ts': '' };
    expect(quotedPathProblems(pages, (path) => files[path])).toEqual([
      "docs/a.md: quotes core/gone.ts, which does not exist; write the file's path as it is now",
    ]);
  });
});
