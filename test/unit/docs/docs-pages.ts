import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, ReadSource } from '../../../scripts/docs/doc-checks.ts';

/** The repository root, and the pages the doc checks read: README.md and every page of docs/. */
export const root = fileURLToPath(new URL('../../../', import.meta.url));

export function repositoryPages(): Page[] {
  const paths = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)];
  return paths
    .filter((path) => path.endsWith('.md'))
    .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

export const readRepositoryFile: ReadSource = (path) => {
  const full = join(root, path);
  if (!existsSync(full)) return undefined;
  return statSync(full).isDirectory() ? '' : readFileSync(full, 'utf8');
};
