import { describe, expect, it } from 'vitest';
import { citationProblems, citedTests } from '../../../scripts/docs/doc-checks.ts';
import { readRepositoryFile, repositoryPages } from './docs-pages.ts';

const tests: Record<string, string> = {
  'test/unit/a.test.ts':
    "describe('retention', () => { it('keeps the newest', () => {}); it(\"keeps a user's\", () => {}); });",
};
const read = (path: string) => tests[path];

describe('tests cited by the docs', () => {
  it('names only tests that exist', () => {
    const pages = repositoryPages();
    expect(citedTests(pages).length).toBeGreaterThan(50);
    expect(citationProblems(pages, readRepositoryFile)).toEqual([]);
  });

  it('reads every name of a citation, with or without a note after it', () => {
    const text = '`test/unit/a.test.ts` › "retention" (2 tests); "keeps the newest"; "keeps a user\'s"';
    expect(citedTests([{ path: 'docs/x.md', text }]).map((c) => c.name)).toEqual([
      'retention',
      'keeps the newest',
      "keeps a user's",
    ]);
    expect(citationProblems([{ path: 'docs/x.md', text }], read)).toEqual([]);
  });

  it('fails for a renamed test and for a file that is gone', () => {
    const text = '`test/unit/a.test.ts` › "keeps the oldest" and `test/unit/b.test.ts` › "anything"';
    expect(citationProblems([{ path: 'docs/x.md', text }], read)).toEqual([
      'docs/x.md: test/unit/a.test.ts has no test named "keeps the oldest"; cite it by its current name',
      "docs/x.md: cites test/unit/b.test.ts, which does not exist; cite the test's new file",
    ]);
  });
});
