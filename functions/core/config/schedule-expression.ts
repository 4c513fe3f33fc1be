/**
 * Validation of EventBridge Scheduler expressions: `cron(min hour day-of-month month day-of-week year)` and
 * `rate(N unit)`. The aim is to reject typos before a deploy does, with a message that says how to fix
 * them; it is not a scheduler, so it does not compute firing times.
 */

export type ScheduleExpression =
  | {
      kind: 'cron';
      minutes: string;
      hours: string;
      dayOfMonth: string;
      month: string;
      dayOfWeek: string;
      year: string;
    }
  | { kind: 'rate'; value: number; unit: RateUnit; intervalSeconds: number };

export type RateUnit = 'minute' | 'hour' | 'day';

export type ScheduleExpressionResult =
  | { ok: true; expression: ScheduleExpression }
  | { ok: false; problem: string };

const CRON_FORMAT = 'cron(minutes hours day-of-month month day-of-week year)';
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const MONTH_NAMES = [
  'JAN',
  'FEB',
  'MAR',
  'APR',
  'MAY',
  'JUN',
  'JUL',
  'AUG',
  'SEP',
  'OCT',
  'NOV',
  'DEC',
] as const;
const RATE_SECONDS: Record<RateUnit, number> = { minute: 60, hour: 3600, day: 86400 };

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Names that stand for min, min + 1, …, e.g. SUN = 1. */
  names?: readonly string[];
  /** Whether `a/b` steps are allowed (EventBridge allows them everywhere except day-of-week). */
  steps: boolean;
}

const FIELDS: readonly CronField[] = [
  { name: 'minutes', min: 0, max: 59, steps: true },
  { name: 'hours', min: 0, max: 23, steps: true },
  { name: 'day-of-month', min: 1, max: 31, steps: true },
  { name: 'month', min: 1, max: 12, names: MONTH_NAMES, steps: true },
  { name: 'day-of-week', min: 1, max: 7, names: DAY_NAMES, steps: false },
  { name: 'year', min: 1970, max: 2199, steps: true },
];

/** Parses an EventBridge Scheduler expression, or says what is wrong with it and how to fix it. */
export function parseScheduleExpression(text: string): ScheduleExpressionResult {
  const trimmed = text.trim();
  const call = /^([a-zA-Z]+)\((.*)\)$/s.exec(trimmed);
  if (!call) {
    const words = trimmed.split(/\s+/);
    const hint =
      words.length >= 5 && words.length <= 6
        ? `; wrap the fields: "cron(${words.length === 5 ? suggestFromFive(words) : words.join(' ')})"`
        : '; e.g. "cron(0 3 * * ? *)" or "rate(1 day)"';
    return fail(`"${text}" is not a schedule expression: use cron(...) or rate(...)${hint}`);
  }
  const [, kind = '', body = ''] = call;
  switch (kind) {
    case 'cron':
      return parseCron(body);
    case 'rate':
      return parseRate(body);
    case 'at':
      return fail('one-time at(...) schedules are not supported for backups; use cron(...) or rate(...)');
    default:
      return fail(`unknown expression type "${kind}(...)"; use lowercase cron(...) or rate(...)`);
  }
}

/** The problem with an expression and its fix, or undefined when EventBridge Scheduler would accept it. */
export function scheduleExpressionProblem(text: string): string | undefined {
  const result = parseScheduleExpression(text);
  return result.ok ? undefined : result.problem;
}

function parseRate(body: string): ScheduleExpressionResult {
  const words = body.trim().split(/\s+/);
  if (words.length !== 2) {
    return fail(`rate(${body}) needs a number and a unit, e.g. "rate(12 hours)"`);
  }
  const [valueText = '', unitText = ''] = words;
  if (!/^\d+$/.test(valueText) || Number(valueText) < 1) {
    return fail(`rate value must be a whole number of at least 1, got "${valueText}"; e.g. "rate(1 hour)"`);
  }
  const value = Number(valueText);
  const unit = unitText.replace(/s$/, '');
  if (!(unit in RATE_SECONDS)) {
    return fail(`unknown rate unit "${unitText}"; use minute(s), hour(s) or day(s), e.g. "rate(14 days)"`);
  }
  const plural = unitText.endsWith('s');
  if (value === 1 && plural) {
    return fail(`rate(1 ${unitText}) needs the singular unit when the value is 1; write "rate(1 ${unit})"`);
  }
  if (value > 1 && !plural) {
    return fail(`rate(${value} ${unitText}) needs the plural unit; write "rate(${value} ${unit}s)"`);
  }
  const rateUnit = unit as RateUnit;
  return {
    ok: true,
    expression: { kind: 'rate', value, unit: rateUnit, intervalSeconds: value * RATE_SECONDS[rateUnit] },
  };
}

function parseCron(body: string): ScheduleExpressionResult {
  const words = body.trim().split(/\s+/).filter(Boolean);
  if (words.length !== 6) {
    const fix =
      words.length === 5
        ? `EventBridge cron has a year field at the end; did you mean "cron(${suggestFromFive(words)})"?`
        : words.length === 7
          ? 'EventBridge cron has no seconds field; drop the first field'
          : 'e.g. "cron(0 3 * * ? *)" for 03:00 every day';
    return fail(`cron needs 6 fields, ${CRON_FORMAT}, got ${words.length}; ${fix}`);
  }
  const [minutes = '', hours = '', dayOfMonth = '', month = '', dayOfWeek = '', year = ''] = words;
  for (const [index, field] of FIELDS.entries()) {
    const problem = fieldProblem(words[index] ?? '', field);
    if (problem) return fail(`cron ${field.name} field "${words[index]}": ${problem}`);
  }
  if (dayOfMonth === '?' && dayOfWeek === '?') {
    const fixed = [minutes, hours, '*', month, '?', year].join(' ');
    return fail(
      `day-of-month and day-of-week are both "?" but exactly one must be; put "*" in day-of-month for every day: "cron(${fixed})"`,
    );
  }
  if (dayOfMonth !== '?' && dayOfWeek !== '?') {
    const fixed =
      dayOfWeek === '*'
        ? [minutes, hours, dayOfMonth, month, '?', year].join(' ')
        : [minutes, hours, '?', month, dayOfWeek, year].join(' ');
    return fail(
      `one of day-of-month ("${dayOfMonth}") and day-of-week ("${dayOfWeek}") must be "?" (EventBridge cannot combine them); e.g. "cron(${fixed})"`,
    );
  }
  return { ok: true, expression: { kind: 'cron', minutes, hours, dayOfMonth, month, dayOfWeek, year } };
}

/** Turns a five-field Unix cron into the EventBridge form: a year field, and `?` in one day field. */
function suggestFromFive(words: string[]): string {
  const [minutes, hours, dayOfMonth = '*', month, dayOfWeek = '*'] = words;
  // EventBridge wants exactly one of the two day fields to be "?": the one the Unix cron left open.
  const openWeek = dayOfWeek === '*' || dayOfWeek === '?';
  const [dom, dow] = openWeek ? [dayOfMonth === '?' ? '*' : dayOfMonth, '?'] : ['?', dayOfWeek];
  return [minutes, hours, dom, month, dow, '*'].join(' ');
}

function fieldProblem(text: string, field: CronField): string | undefined {
  if (text === '?') {
    return field.name === 'day-of-month' || field.name === 'day-of-week'
      ? undefined
      : `"?" is only allowed in day-of-month or day-of-week; use "*" here`;
  }
  if (text === '*') return undefined;
  if (field.name === 'day-of-month' && /W|L/i.test(text)) return dayOfMonthSpecialProblem(text);
  if (field.name === 'day-of-week' && /#|L$/i.test(text)) return dayOfWeekSpecialProblem(text, field);
  for (const item of text.split(',')) {
    const problem = itemProblem(item, field);
    if (problem) return problem;
  }
  return undefined;
}

function itemProblem(item: string, field: CronField): string | undefined {
  if (item === '') return 'empty list item; remove the extra comma';
  const [range = '', step, ...rest] = item.split('/');
  if (rest.length > 0) return `"${item}" has more than one "/"; write start/step, e.g. "0/15"`;
  if (step !== undefined) {
    if (!field.steps) return `steps ("/") are not allowed in ${field.name}; list the values instead`;
    if (!/^\d+$/.test(step) || Number(step) < 1 || Number(step) > field.max) {
      return `step "${step}" must be a whole number from 1 to ${field.max}, e.g. "0/15"`;
    }
    if (range === '*') return undefined;
  }
  if (range === '*') return `"*" cannot be combined with other values; use "*" alone`;
  const bounds = range.split('-');
  if (bounds.length > 2) return `"${range}" is not a range; write start-end, e.g. "${rangeExample(field)}"`;
  const values: number[] = [];
  for (const bound of bounds) {
    const value = numberOf(bound, field);
    if (typeof value === 'string') return value;
    values.push(value);
  }
  const [start = 0, end = start] = values;
  if (start > end) {
    return `range "${range}" starts after it ends; write the smaller value first, e.g. "${rangeExample(field)}"`;
  }
  return undefined;
}

/** The number a value stands for, or the problem with it. */
function numberOf(text: string, field: CronField): number | string {
  const nameIndex = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (nameIndex >= 0) return field.min + nameIndex;
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    if (value >= field.min && value <= field.max) return value;
    return `${value} is out of range; ${field.name} takes ${field.min}-${field.max}${namesHint(field)}`;
  }
  const kind =
    field.name === 'day-of-week' ? 'a day of the week' : field.name === 'month' ? 'a month' : 'a number';
  return `"${text}" is not ${kind}; use ${field.min}-${field.max}${namesHint(field)}`;
}

function dayOfMonthSpecialProblem(text: string): string | undefined {
  if (text.toUpperCase() === 'L' || text.toUpperCase() === 'LW') return undefined;
  const weekday = /^(\d+)W$/i.exec(text);
  if (weekday && Number(weekday[1]) >= 1 && Number(weekday[1]) <= 31) return undefined;
  return `"${text}" is not valid; day-of-month takes "L" (last day), "LW" (last weekday) or "15W" (weekday nearest the 15th), alone`;
}

function dayOfWeekSpecialProblem(text: string, field: CronField): string | undefined {
  if (text.toUpperCase() === 'L') return undefined;
  const nth = /^([^#]+)#(.*)$/.exec(text);
  if (nth) {
    const day = numberOf(nth[1] ?? '', field);
    if (typeof day === 'string') return day;
    if (!/^[1-5]$/.test(nth[2] ?? '')) return `"#${nth[2]}" must be #1 to #5, e.g. "FRI#3" (third Friday)`;
    return undefined;
  }
  const day = numberOf(text.slice(0, -1), field);
  return typeof day === 'string' ? day : undefined;
}

function namesHint(field: CronField): string {
  return field.names ? ` or ${field.names.join(', ')}` : '';
}

function rangeExample(field: CronField): string {
  if (field.name === 'day-of-week') return 'MON-FRI';
  if (field.name === 'month') return 'JAN-MAR';
  return `${field.min}-${field.min + 5}`;
}

function fail(problem: string): ScheduleExpressionResult {
  return { ok: false, problem };
}

/** Why a time zone is not one EventBridge Scheduler accepts, or undefined when it is. */
export function timezoneProblem(timezone: string): string | undefined {
  const example = 'use an IANA time zone name such as "Europe/Paris" or "America/New_York"';
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(timezone)) {
    return `"${timezone}" is not an IANA time zone name (offsets are not accepted); ${example}`;
  }
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    return `unknown time zone "${timezone}"; ${example}`;
  }
  // Intl accepts any letter case; EventBridge wants the exact IANA spelling.
  if (resolved !== timezone && resolved.toLowerCase() === timezone.toLowerCase()) {
    return `time zone names are case-sensitive; write "${resolved}"`;
  }
  return undefined;
}
