import type { ScheduleRule } from '#core/config/config.ts';
import { nextRunAt } from '#core/config/next-run.ts';
import { checkOccurrence, previousRunAt } from '#core/config/occurrence.ts';
import { parseScheduleExpression } from '#core/config/schedule-expression.ts';
import type { Generation } from '#core/model/generation.ts';

/**
 * How a target's generations of one schedule measure against the schedule over the report's window: the
 * occurrences due and what became of each, the gaps between completed generations, and the RPO the schedule
 * promises (its interval).
 */

/**
 * Slack for a run to take and complete its snapshots: an occurrence is due once this much has passed, and an RPO or
 * gap breaches only beyond interval plus this.
 */
export const RPO_GRACE_SECONDS = 900;

/** The most occurrences counted in one window (a minutely schedule over a week is 10,080). */
const MAX_OCCURRENCES = 20_000;

/** A stretch of time with no completed generation between its ends. */
export interface Gap {
  from: string;
  to: string;
  seconds: number;
}

export interface ScheduleCompliance {
  schedule: string;
  expression: string;
  /** The longest time between two occurrences in the window (a `rate` says it); null when not computed. */
  intervalSeconds: number | null;
  /** Age of this schedule's newest completed generation; null when it has none. */
  rpoSeconds: number | null;
  /** Occurrences due in the window; null when they cannot be computed (`rate`, `L`, `W`, `#`). */
  due: number | null;
  /** Due occurrences that made no generation at all. */
  missed: string[];
  /** Generations of the window that failed, by scheduled time. */
  failed: string[];
  /** Generations of the window still pending past the grace. */
  pending: string[];
  longestGapSeconds: number | null;
  /** Gaps longer than the interval plus the grace, oldest first; the last may be still open (ending at `at`). */
  breaches: Gap[];
  /** Whether the newest completed generation is older than the interval plus the grace (or there is none). */
  breach: boolean;
}

export interface ComplianceWindow {
  from: Date;
  at: Date;
  /** Occurrences before this (the target's first generation) were not the target's to take. */
  since?: Date;
}

const seconds = (ms: number) => Math.round(ms / 1000);

/** The latest occurrence at or before `at`, or undefined when none can be computed. */
function latestOccurrence(rule: Pick<ScheduleRule, 'expression' | 'timezone'>, at: Date): Date | undefined {
  const check = checkOccurrence(rule, at);
  if (!check.evaluated) return undefined;
  return check.onSchedule ? at : previousRunAt(rule, at);
}

/** The occurrences in (`from`, `to`], oldest first; undefined when the schedule's occurrences are not computed. */
export function occurrencesBetween(
  rule: Pick<ScheduleRule, 'expression' | 'timezone'>,
  from: Date,
  to: Date,
): Date[] | undefined {
  if (!checkOccurrence(rule, to).evaluated) return undefined;
  const found: Date[] = [];
  let cursor = nextRunAt(rule.expression, rule.timezone, from);
  while (cursor && cursor.getTime() <= to.getTime() && found.length < MAX_OCCURRENCES) {
    found.push(cursor);
    cursor = nextRunAt(rule.expression, rule.timezone, cursor);
  }
  return found;
}

/**
 * The schedule's interval: a `rate`'s own, else the longest time between consecutive occurrences of the window and
 * the one before it (so a weekday schedule promises Friday to Monday, and a day that changes the clock counts).
 */
export function scheduleInterval(
  rule: Pick<ScheduleRule, 'expression' | 'timezone'>,
  window: { from: Date; at: Date },
): number | undefined {
  const parsed = parseScheduleExpression(rule.expression);
  if (!parsed.ok) return undefined;
  if (parsed.expression.kind === 'rate') return parsed.expression.intervalSeconds;
  const last = latestOccurrence(rule, window.at);
  if (!last) return undefined;
  const first = latestOccurrence(rule, window.from) ?? last;
  const times = [first, ...(occurrencesBetween(rule, first, window.at) ?? [])];
  const next = nextRunAt(rule.expression, rule.timezone, last);
  if (times.length < 2 && next) times.push(next);
  let longest = 0;
  for (let i = 1; i < times.length; i++) {
    longest = Math.max(longest, (times[i]?.getTime() ?? 0) - (times[i - 1]?.getTime() ?? 0));
  }
  return longest > 0 ? seconds(longest) : undefined;
}

/** Whether a generation still held its snapshots at `at`. */
export function aliveAt(generation: Generation, at: string): boolean {
  return !generation.deletedAt || generation.deletedAt > at;
}

/** A completed generation's point in time: when its snapshots were taken. */
export function pointInTime(generation: Generation): string | undefined {
  return generation.state === 'completed' ? (generation.takenAt ?? generation.scheduledAt) : undefined;
}

/** `generations`: this target's generations of `rule`, scheduled at or before `window.at`, any order. */
export function scheduleCompliance(
  rule: Pick<ScheduleRule, 'name' | 'expression' | 'timezone'>,
  generations: readonly Generation[],
  window: ComplianceWindow,
): ScheduleCompliance {
  const at = window.at.toISOString();
  const grace = RPO_GRACE_SECONDS * 1000;
  const interval = scheduleInterval(rule, window);
  const start = new Date(Math.max(window.from.getTime(), (window.since?.getTime() ?? 0) - 1));
  const occurrences = occurrencesBetween(rule, start, new Date(window.at.getTime() - grace));
  const byTime = new Map(generations.map((g) => [g.scheduledAt, g]));
  const inWindow = generations
    .filter((g) => g.scheduledAt > window.from.toISOString())
    .sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt));
  const overdue = window.at.getTime() - grace;
  const completed = generations
    .map(pointInTime)
    .filter((t): t is string => t !== undefined)
    .sort();
  const newestAlive = generations
    .filter((g) => aliveAt(g, at))
    .map(pointInTime)
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
  const rpoSeconds = newestAlive ? seconds(window.at.getTime() - Date.parse(newestAlive)) : null;
  const gaps = gapsOf(completed, window);
  const allowed = interval === undefined ? undefined : interval + RPO_GRACE_SECONDS;
  return {
    schedule: rule.name,
    expression: rule.expression,
    intervalSeconds: interval ?? null,
    rpoSeconds,
    due: occurrences?.length ?? null,
    missed: (occurrences ?? []).map((o) => o.toISOString()).filter((o) => !byTime.has(o)),
    failed: inWindow.filter((g) => g.state === 'failed').map((g) => g.scheduledAt),
    pending: inWindow
      .filter((g) => g.state === 'pending' && Date.parse(g.scheduledAt) < overdue)
      .map((g) => g.scheduledAt),
    longestGapSeconds: gaps.length ? Math.max(...gaps.map((g) => g.seconds)) : null,
    breaches: allowed === undefined ? [] : gaps.filter((g) => g.seconds > allowed),
    breach:
      allowed !== undefined && (rpoSeconds === null ? (occurrences?.length ?? 1) > 0 : rpoSeconds > allowed),
  };
}

/**
 * The gaps between consecutive completed points in time that touch the window, the last one open to `at`. The
 * newest point before the window starts the first gap; with none, the first point inside it does.
 */
export function gapsOf(points: readonly string[], window: { from: Date; at: Date }): Gap[] {
  const from = window.from.toISOString();
  const at = window.at.toISOString();
  const before = points.filter((p) => p <= from).at(-1);
  const inside = points.filter((p) => p > from && p <= at);
  const ends = [...(before ? [before] : []), ...inside, ...(inside.length || before ? [at] : [])];
  const gaps: Gap[] = [];
  for (let i = 1; i < ends.length; i++) {
    const [a, b] = [ends[i - 1] ?? at, ends[i] ?? at];
    gaps.push({ from: a, to: b, seconds: seconds(Date.parse(b) - Date.parse(a)) });
  }
  return gaps;
}
