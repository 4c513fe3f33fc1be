import { DAY_MS } from '#core/model/time.ts';
import type { ScheduleRule } from './config.ts';
import { cronFields, offset } from './next-run.ts';
import { parseScheduleExpression } from './schedule-expression.ts';

/**
 * The calendar the longest gap is measured over: fixed, so the same config always synthesizes the same alarms, and
 * nine years long, so every weekday falls on every date and a 29 February schedule shows its four-year gap.
 */
const FIRST_DAY = Date.UTC(2024, 0, 1);
const DAYS = 9 * 366;

/**
 * The longest time a schedule leaves between two firings, in seconds: the recovery point objective a policy
 * can promise. A `rate(...)` fires every interval; for a `cron(...)` it is the longest gap between consecutive
 * occurrences in its time zone, an hour longer where the zone changes back from summer time (the repeated hour
 * stretches one gap). Undefined for the `L`, `W` and `#` forms, which the evaluator does not cover, and for a
 * schedule that fires fewer than twice.
 */
export function longestGapSeconds(rule: Pick<ScheduleRule, 'expression' | 'timezone'>): number | undefined {
  const parsed = parseScheduleExpression(rule.expression);
  if (parsed.ok && parsed.expression.kind === 'rate') return parsed.expression.intervalSeconds;
  const fields = cronFields(rule.expression);
  if (!fields) return undefined;
  // Wall-clock minutes of the day it fires at: the same on every day it fires.
  const times = [...fields.hours]
    .flatMap((h) => [...fields.minutes].map((m) => h * 60 + m))
    .sort((a, b) => a - b);
  const firstTime = times[0];
  const lastTime = times.at(-1);
  if (firstTime === undefined || lastTime === undefined) return undefined;
  let longestMinutes = 0;
  for (let i = 1; i < times.length; i++)
    longestMinutes = Math.max(longestMinutes, (times[i] ?? 0) - (times[i - 1] ?? 0));
  let previousDay: number | undefined;
  let firings = 0;
  for (let d = 0; d < DAYS; d++) {
    const day = new Date(FIRST_DAY + d * DAY_MS);
    const fires =
      fields.years.has(day.getUTCFullYear()) &&
      fields.months.has(day.getUTCMonth() + 1) &&
      fields.days.has(day.getUTCDate()) &&
      fields.weekdays.has(day.getUTCDay() + 1);
    if (!fires) continue;
    firings += times.length;
    if (previousDay !== undefined) {
      longestMinutes = Math.max(longestMinutes, (d - previousDay) * 1440 + firstTime - lastTime);
    }
    previousDay = d;
  }
  if (firings < 2) return undefined;
  return longestMinutes * 60 + (observesSummerTime(rule.timezone) ? 3600 : 0);
}

/** Whether the zone's offset from UTC changes in the course of a year. */
function observesSummerTime(zone: string | undefined): boolean {
  if (!zone || zone === 'UTC') return false;
  const january = offset(Date.UTC(2025, 0, 15), zone);
  return [3, 6, 9].some((month) => offset(Date.UTC(2025, month, 15), zone) !== january);
}
