import { describe, expect, it } from 'vitest';
import { quotedValueProblems } from '../../../scripts/docs/doc-checks.ts';
import { readRepositoryFile, repositoryPages } from './docs-pages.ts';

const code: Record<string, string> = {
  'functions/lease.ts': 'export const CLAIM_LEASE_MS = 15 * 60 * 1000;',
  'functions/freeze.ts': 'export const THAW_RESERVE_MS = 5_000;',
  'infra/copies.ts': 'const MAX_RECEIVES = 5;',
};
const read = (path: string) => code[path];
const page = (text: string) => [{ path: 'docs/x.md', text }];

describe('values quoted from the code', () => {
  it('finds every quoted value in the code it names', () => {
    const pages = repositoryPages();
    expect(pages.some((p) => p.text.includes('<!-- code: '))).toBe(true);
    expect(quotedValueProblems(pages, readRepositoryFile)).toEqual([]);
  });

  it('accepts a number written in another unit of the same value', () => {
    const text =
      'a lease of 15 minutes<!-- code: functions/lease.ts | CLAIM_LEASE_MS = 15 * 60 * 1000 --> and ' +
      '5 s<!-- code: functions/freeze.ts | THAW_RESERVE_MS = 5_000 --> kept back; 5 times<!-- code: infra/copies.ts | MAX_RECEIVES = 5 -->';
    expect(quotedValueProblems(page(text), read)).toEqual([]);
  });

  it('fails when the page quotes a number the code no longer has', () => {
    const text = 'moved after 6 tries<!-- code: infra/copies.ts | MAX_RECEIVES = 5 -->';
    expect(quotedValueProblems(page(text), read)).toEqual([
      'docs/x.md: the value quoted from infra/copies.ts: the page says 6 tries but the code says "MAX_RECEIVES = 5"; correct the page',
    ]);
  });

  it('fails when the code no longer contains the quoted text, or the file is gone', () => {
    const text =
      '20 s<!-- code: functions/freeze.ts | THAW_RESERVE_MS = 20_000 --> and 1 s<!-- code: functions/gone.ts | X = 1 -->';
    expect(quotedValueProblems(page(text), read)).toEqual([
      'docs/x.md: the value quoted from functions/freeze.ts: the file no longer contains "THAW_RESERVE_MS = 20_000"; update the page and the marker to the code',
      'docs/x.md: the value quoted from functions/gone.ts: no such file; point the marker at the file that now holds the value',
    ]);
  });
});
