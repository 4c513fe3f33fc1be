/**
 * Checks that keep hand-written pages true to the code, run by test/unit/docs/: a value quoted from the code
 * must still be in the code, and a test cited by name must still exist. Each returns the problems it found,
 * one line each naming the page and the fix; an empty list means the pages hold.
 */

/** One page: its path (for messages) and its Markdown. */
export interface Page {
  path: string;
  text: string;
}

/** Reads a repository file as text ('' for a folder), or undefined when there is no such path. */
export type ReadSource = (path: string) => string | undefined;

// `<!-- code: functions/x.ts | const LIMIT = 200 -->`, placed right after the value it vouches for.
const CODE_MARKER = /<!-- code: ([\w./-]+) \| (.+?) -->/g;
// The value right before a marker: a number, one optional unit word, closing punctuation.
const QUOTED_NUMBER = /(\d[\d,._]*\d|\d)(?:\s*|-)([A-Za-z]+)?[)`'"]*\s*$/;

const UNIT_FACTORS: Record<string, number[]> = {
  s: [1, 1000],
  second: [1, 1000],
  seconds: [1, 1000],
  minute: [1, 60, 60_000],
  minutes: [1, 60, 60_000],
  min: [1, 60, 60_000],
  h: [1, 3600, 3_600_000],
  hour: [1, 3600, 3_600_000],
  hours: [1, 3600, 3_600_000],
  day: [1, 86_400, 86_400_000],
  days: [1, 86_400, 86_400_000],
};

/** The numbers written in a piece of code, `5_000` read as 5000. */
function numbersIn(code: string): Set<number> {
  return new Set([...code.matchAll(/\d[\d_]*/g)].map((match) => Number(match[0].replaceAll('_', ''))));
}

/** Whether the value quoted before a marker (`5 s`, `15 minutes`, `4096-byte`) is written in `snippet`. */
function quotedIn(quoted: string, unit: string | undefined, snippet: string): boolean {
  if (snippet.includes(quoted.replaceAll(',', ''))) return true;
  const value = Number(quoted.replaceAll(',', '').replaceAll('_', ''));
  if (Number.isNaN(value)) return false;
  const written = numbersIn(snippet);
  const factors = UNIT_FACTORS[unit?.toLowerCase() ?? ''] ?? [1];
  return factors.some((factor) => written.has(value * factor));
}

/**
 * Problems with the `<!-- code: path | text -->` markers of `pages`: the file must exist and contain the text,
 * and a number written right before the marker must appear in that text.
 */
export function quotedValueProblems(pages: readonly Page[], read: ReadSource): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    for (const marker of page.text.matchAll(CODE_MARKER)) {
      const [, path = '', snippet = ''] = marker;
      const where = `${page.path}: the value quoted from ${path}`;
      const source = read(path);
      if (source === undefined) {
        problems.push(`${where}: no such file; point the marker at the file that now holds the value`);
        continue;
      }
      if (!source.includes(snippet)) {
        problems.push(
          `${where}: the file no longer contains "${snippet}"; update the page and the marker to the code`,
        );
        continue;
      }
      const before = page.text
        .slice(Math.max(0, (marker.index ?? 0) - 60), marker.index)
        .split('\n')
        .pop();
      const number = QUOTED_NUMBER.exec(before ?? '');
      if (number?.[1] && !quotedIn(number[1], number[2], snippet)) {
        problems.push(
          `${where}: the page says ${number[0].trim()} but the code says "${snippet}"; correct the page`,
        );
      }
    }
  }
  return problems;
}

/** Every `` `test/….test.ts` › "name"; "name" `` citation of `pages`. */
export function citedTests(pages: readonly Page[]): { page: string; file: string; name: string }[] {
  const cited: { page: string; file: string; name: string }[] = [];
  for (const page of pages) {
    for (const citation of page.text.matchAll(
      /`(test\/[\w/.-]+\.test\.ts)` › ((?:"[^"]+"(?: \([^)]*\))?(?:;\s)?)+)/g,
    )) {
      for (const name of (citation[2] ?? '').matchAll(/"([^"]+)"/g)) {
        // A name may wrap across lines of the page.
        cited.push({ page: page.path, file: citation[1] ?? '', name: (name[1] ?? '').replace(/\s+/g, ' ') });
      }
    }
  }
  return cited;
}

/** Problems with the tests `pages` cite: each file must exist and hold a test or describe of that name. */
export function citationProblems(pages: readonly Page[], read: ReadSource): string[] {
  return citedTests(pages).flatMap(({ page, file, name }) => {
    const source = read(file);
    if (source === undefined)
      return [`${page}: cites ${file}, which does not exist; cite the test's new file`];
    const titled = [`'${name}'`, `"${name}"`, `\`${name}\``].some((quoted) => source.includes(quoted));
    return titled ? [] : [`${page}: ${file} has no test named "${name}"; cite it by its current name`];
  });
}

/** The anchors GitHub gives a page's headings: lowercased, punctuation dropped, spaces as hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const heading of withoutCode.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading[1] ?? '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Problems with the relative links of `pages`: each must name a file that exists, and an anchor it has. */
export function linkProblems(pages: readonly Page[], read: ReadSource): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    const folder = page.path.includes('/') ? page.path.slice(0, page.path.lastIndexOf('/') + 1) : '';
    const text = page.text.replace(/^```[\s\S]*?^```/gm, '');
    for (const link of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = link[1] ?? '';
      if (/^[a-z]+:/.test(target)) continue;
      const [file = '', anchor] = target.split('#');
      const path = file === '' ? page.path : normalise(folder + file);
      const source = read(path.replace(/\/$/, ''));
      if (source === undefined) {
        problems.push(`${page.path}: links to ${target}, but ${path} does not exist; fix the link`);
      } else if (anchor && path.endsWith('.md') && !anchorsOf(source).has(anchor)) {
        problems.push(
          `${page.path}: links to ${target}, but ${path} has no heading with that anchor; fix the link`,
        );
      }
    }
  }
  return problems;
}

function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.') parts.push(part);
  }
  return parts.join('/');
}

/** The code of a page: fenced blocks and inline code spans, where commands are written. */
function codeOf(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((match) => match[1] ?? '');
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...blocks, ...[...prose.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? '')];
}

/**
 * Problems with the `snapkeeper <command> --flag` lines the pages show: the command must exist (or be one of
 * `notBuilt`, which the pages describe as not built yet), and take every flag shown with it.
 */
export function cliUsageProblems(
  pages: readonly Page[],
  flagsOf: ReadonlyMap<string, ReadonlySet<string>>,
  notBuilt: readonly string[],
): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    for (const code of codeOf(page.text)) {
      for (const use of code.matchAll(/snapkeeper ([a-z][a-z-]*)([^\n]*)/g)) {
        const [, command = '', rest = ''] = use;
        const flags = flagsOf.get(command);
        if (!flags) {
          if (!notBuilt.includes(command)) {
            problems.push(`${page.path}: shows "snapkeeper ${command}", which is no command; fix the page`);
          }
          continue;
        }
        for (const flag of rest.split(/snapkeeper /)[0]?.match(/(?<![\w-])--[a-z][a-z-]*/g) ?? []) {
          if (!flags.has(flag)) {
            problems.push(
              `${page.path}: shows "snapkeeper ${command} ${flag}", a flag ${command} does not take; fix the page`,
            );
          }
        }
      }
    }
  }
  return problems;
}

// A repository path quoted in code spans: `functions/core/backup/run.ts`, `adapters/catalog/layout.ts`, `test/...`.
const QUOTED_PATH =
  /`((?:functions|core|adapters|handlers|cli|infra|test|scripts|docs)\/[\w./-]*\.(?:ts|md|json))`/g;

/**
 * Problems with the source paths `pages` quote in code spans: each must exist, from the repository root or, for
 * `core/...`, `adapters/...`, `handlers/...` and `cli/...`, from `functions/`. A moved file then fails the docs,
 * not a newcomer.
 */
export function quotedPathProblems(pages: readonly Page[], read: ReadSource): string[] {
  const problems: string[] = [];
  for (const page of pages) {
    for (const [, path = ''] of page.text.matchAll(QUOTED_PATH)) {
      if (read(path) !== undefined || read(`functions/${path}`) !== undefined) continue;
      problems.push(`${page.path}: quotes ${path}, which does not exist; write the file's path as it is now`);
    }
  }
  return [...new Set(problems)];
}
