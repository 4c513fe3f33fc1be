/** Time arithmetic the core shares; times are ISO-8601 strings in UTC, as the catalog stores them. */

/** One day in milliseconds: retention, pruning and deprecation count whole 24-hour days, not calendar days. */
export const DAY_MS = 86_400_000;

/** The ISO time `days` whole days after `iso`. */
export function daysAfter(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * DAY_MS).toISOString();
}
