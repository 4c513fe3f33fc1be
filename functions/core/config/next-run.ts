import { DAY_MS } from '#core/model/time.ts';
import { parseScheduleExpression } from './schedule-expression.ts';

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/**
 * When a schedule next fires strictly after `after`, in its time zone, for the plan. Covers `*`, `?`, lists,
 * ranges, steps and names; a `rate(...)` has no fixed phase (it counts from when the schedule was created) and
 * the `L`, `W` and `#` forms are not evaluated, so both answer undefined and the plan says "not computed".
 */
export function nextRunAt(expression: string, timezone: string | undefined, after: Date): Date | undefined {
  const fields = cronFields(expression);
  if (!fields) return undefined;
  const { minutes, hours, days, months, weekdays, years } = fields;
  const zone = timezone ?? 'UTC';
  const start = localParts(after, zone);
  // Walk local calendar days (at most a few years), then the matching hours and minutes of each.
  for (let d = 0; d < 366 * 5; d++) {
    const day = new Date(Date.UTC(start.year, start.month - 1, start.day) + d * DAY_MS);
    const [y, m, dom, dow] = [
      day.getUTCFullYear(),
      day.getUTCMonth() + 1,
      day.getUTCDate(),
      day.getUTCDay() + 1,
    ];
    if (!years.has(y) || !months.has(m) || !days.has(dom) || !weekdays.has(dow)) continue;
    for (const h of [...hours].sort((a, b) => a - b)) {
      for (const min of [...minutes].sort((a, b) => a - b)) {
        const instant = fromLocal(y, m, dom, h, min, zone);
        if (instant && instant.getTime() > after.getTime()) return instant;
      }
    }
  }
  return undefined;
}

/** The values each field of a cron expression allows (day of week 1 = Sunday), in the schedule's local time. */
export interface CronFields {
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  years: Set<number>;
}

/** The fields of a `cron(...)` expression, or undefined for a `rate(...)` and for the `L`, `W` and `#` forms. */
export function cronFields(expression: string): CronFields | undefined {
  const parsed = parseScheduleExpression(expression);
  if (!parsed.ok || parsed.expression.kind !== 'cron') return undefined;
  const cron = parsed.expression;
  const minutes = expand(cron.minutes, 0, 59);
  const hours = expand(cron.hours, 0, 23);
  const days = expand(cron.dayOfMonth, 1, 31);
  const months = expand(cron.month, 1, 12, MONTH_NAMES);
  const weekdays = expand(cron.dayOfWeek, 1, 7, DAY_NAMES);
  const years = expand(cron.year, 1970, 2199);
  if (!minutes || !hours || !days || !months || !weekdays || !years) return undefined;
  return { minutes, hours, days, months, weekdays, years };
}

/** The set of values a cron field allows, or undefined for forms this evaluator does not cover. */
function expand(field: string, min: number, max: number, names?: readonly string[]): Set<number> | undefined {
  if (field === '*' || field === '?') return range(min, max, 1);
  const values = new Set<number>();
  for (const part of field.toUpperCase().split(',')) {
    if (/[LW#]/.test(part)) return undefined;
    const [span = '', stepText] = part.split('/');
    const step = stepText ? Number(stepText) : 1;
    const value = (text: string) => {
      const index = names?.indexOf(text) ?? -1;
      return index >= 0 ? min + index : Number(text);
    };
    const [from, to] =
      span === '*'
        ? [min, max]
        : span.includes('-')
          ? span.split('-').map(value)
          : [value(span), stepText ? max : value(span)];
    for (const v of range(from ?? min, to ?? max, step)) values.add(v);
  }
  return values;
}

function range(from: number, to: number, step: number): Set<number> {
  const values = new Set<number>();
  for (let v = from; v <= to; v += step) values.add(v);
  return values;
}

function localParts(instant: Date, zone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
  };
}

/**
 * The instant a wall-clock time in a zone names: the earlier one when a change back to standard time repeats
 * it, and undefined when a change to summer time skips it (EventBridge Scheduler skips such a firing too).
 */
function fromLocal(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  zone: string,
): Date | undefined {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // The zone's offset half a day either side covers any single change; a valid answer shows the same wall time.
  const candidates = [wall - offset(wall - 12 * 3_600_000, zone), wall - offset(wall + 12 * 3_600_000, zone)]
    .filter((instant) => {
      const local = localParts(new Date(instant), zone);
      return Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute) === wall;
    })
    .sort((a, b) => a - b);
  return candidates[0] === undefined ? undefined : new Date(candidates[0]);
}

/** How far the zone's wall clock is ahead of UTC at an instant, in ms. */
export function offset(instant: number, zone: string): number {
  const local = localParts(new Date(instant), zone);
  return (
    Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute) -
    Math.floor(instant / 60_000) * 60_000
  );
}
