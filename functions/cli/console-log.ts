import type { Log } from '#core/model/ports.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
type Level = keyof typeof LEVELS;

/** The CLI's `Log`: one readable line per event on stderr, so stdout stays clean for `--json`. */
export function consoleLog(write: (line: string) => void, minimum: Level = 'info'): Log {
  const line =
    (level: Level) =>
    (message: string, data: Record<string, unknown> = {}) => {
      if (LEVELS[level] < LEVELS[minimum]) return;
      const fields = Object.entries(data)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      write(`${level === 'info' ? '·' : level.toUpperCase()} ${message}${fields ? `  ${fields}` : ''}\n`);
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
