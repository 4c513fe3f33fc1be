import { describeErrorChain } from '#core/model/errors.ts';
import type { Log } from '#core/model/ports.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/** A log field as text: errors by their message and causes (JSON would print `{}` for them), objects as JSON. */
function fieldText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return JSON.stringify(describeErrorChain(value));
  return JSON.stringify(value);
}

/** The CLI's `Log`: one readable line per event on stderr, so stdout stays clean for `--json`. */
export function consoleLog(write: (line: string) => void, minimum: Level = 'info'): Log {
  const line =
    (level: Level) =>
    (message: string, data: Record<string, unknown> = {}) => {
      if (LEVELS[level] < LEVELS[minimum]) return;
      // A field left undefined says nothing: `freezeWindowMs=undefined` would read as a value.
      const fields = Object.entries(data)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => `${key}=${fieldText(value)}`)
        .join(' ');
      write(`${level === 'info' ? '·' : level.toUpperCase()} ${message}${fields ? `  ${fields}` : ''}\n`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
