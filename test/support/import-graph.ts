import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The import graph of the sources under a folder, read from their import and export statements (madge is not a
 * dependency; the project's imports are simple enough to read here): relative imports and the package.json
 * subpath imports (`#core/...`). Packages and Node built-ins are not followed. `import type` and `export type`
 * statements are erased when the code runs; they are edges only when `types` is asked for.
 */

/** The product's sources. */
export const FUNCTIONS = fileURLToPath(new URL('../../functions/', import.meta.url));
/** package.json `imports`, as the source uses them. */
const SUBPATHS: [string, string][] = [
  ['#core/', 'core/'],
  ['#adapters/', 'adapters/'],
  ['#handlers/', 'handlers/'],
  ['#cli/', 'cli/'],
  ['#wiring', 'wiring.ts'],
];
const SPECIFIER =
  /(?:^|\n)\s*(?:import|export)\b(\s+type\b)?[^'"]*?\sfrom\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The files under `base` that `file` imports; packages and Node built-ins are not followed. */
export function importsOf(file: string, base: string, options: { types?: boolean } = {}): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    if (match[1] && !options.types) continue;
    const specifier = match[2] ?? match[3] ?? '';
    const subpath = SUBPATHS.find(([prefix]) => specifier.startsWith(prefix));
    if (subpath) found.push(join(base, subpath[1] + specifier.slice(subpath[0].length)));
    else if (specifier.startsWith('.')) found.push(resolve(dirname(file), specifier));
  }
  return found;
}

/** Every import cycle among the sources under `base`, each as the chain of files that closes it. */
export function importCycles(base: string, options: { types?: boolean } = {}): string[][] {
  const graph = new Map(sourcesUnder(base).map((file) => [file, importsOf(file, base, options)]));
  const cycles: string[][] = [];
  const done = new Set<string>();
  const visit = (file: string, path: string[]) => {
    const at = path.indexOf(file);
    if (at >= 0) {
      cycles.push([...path.slice(at), file].map((f) => relative(base, f)));
      return;
    }
    if (done.has(file) || !graph.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}
