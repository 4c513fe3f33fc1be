import { InvalidArgumentError } from 'commander';

/** Commander argument parsers shared by the commands; each rejection says what a valid value looks like. */

/** An ISO-8601 time, normalised to UTC. */
export function isoTime(value: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new InvalidArgumentError('expected an ISO-8601 time such as 2026-11-21T03:00:00Z');
  }
  return time.toISOString();
}

/** A whole number, 0 or more. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return n;
}

/** A whole number, 1 or more. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}
