import { InputError } from '#core/model/errors.ts';
import { DAY_MS } from '#core/model/time.ts';
import type { ScheduleRule } from './config.ts';
import { nextRunAt } from './next-run.ts';

/**
 * How long EventBridge Scheduler keeps retrying one delivery (its `maximumEventAgeInSeconds`), and how long
 * Lambda keeps retrying the asynchronous invocation Scheduler makes (the function's `maxEventAge`). The stack
 * sets both from these constants, so a genuine delivery of an occurrence always arrives within their sum.
 * Scheduler invokes Lambda asynchronously
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html).
 */
export const SCHEDULER_MAX_EVENT_AGE_SECONDS = 3600;
export const RUN_MAX_EVENT_AGE_SECONDS = 3600;

/** A clock that runs ahead of the invoking service's by this much is still believed. */
const FUTURE_SKEW_MS = 5 * 60_000;

/** The oldest a scheduled time may be when its run starts: every retry of Scheduler, then of Lambda. */
export const LATEST_DELIVERY_MS = (SCHEDULER_MAX_EVENT_AGE_SECONDS + RUN_MAX_EVENT_AGE_SECONDS) * 1000;

/** Where a time stands against a schedule: whether it is an occurrence, and the occurrences either side. */
export interface OccurrenceCheck {
  /** False only when the evaluator covers the expression (cron without `L`, `W`, `#`) and `at` is not a firing. */
  onSchedule: boolean;
  /** Whether occurrences can be computed at all: not for `rate(...)`, which counts from the schedule's creation. */
  evaluated: boolean;
  before?: Date;
  after?: Date;
}

/**
 * Whether `at` is an occurrence of the schedule. A `rate(...)` (and the cron forms `nextRunAt` does not evaluate)
 * has no phase this code can know, so any time is on schedule for it; the delivery window still applies.
 */
export function checkOccurrence(
  rule: Pick<ScheduleRule, 'expression' | 'timezone'>,
  at: Date,
): OccurrenceCheck {
  const after = nextRunAt(rule.expression, rule.timezone, new Date(at.getTime() - 1));
  if (after === undefined) return { onSchedule: true, evaluated: false };
  if (after.getTime() === at.getTime()) return { onSchedule: true, evaluated: true, before: at, after: at };
  return {
    onSchedule: false,
    evaluated: true,
    before: previousRunAt(rule, at),
    after,
  };
}

/** The latest occurrence strictly before `at`, searched in growing windows back to five years. */
export function previousRunAt(
  rule: Pick<ScheduleRule, 'expression' | 'timezone'>,
  at: Date,
): Date | undefined {
  for (const days of [1 / 24, 1, 7, 32, 366, 366 * 5]) {
    let cursor = nextRunAt(rule.expression, rule.timezone, new Date(at.getTime() - days * DAY_MS));
    let latest: Date | undefined;
    // Bounded: at most one day of minute-by-minute firings in the first window that holds any.
    for (let steps = 0; cursor && cursor.getTime() < at.getTime() && steps < 2000; steps++) {
      latest = cursor;
      cursor = nextRunAt(rule.expression, rule.timezone, cursor);
    }
    if (latest) return latest;
  }
  return undefined;
}

/** "2026-12-01T03:00:00.000Z (before) or 2026-12-02T03:00:00.000Z (after)", for error messages. */
function nearest(check: OccurrenceCheck): string {
  const sides = [
    check.before && `${check.before.toISOString()} (before)`,
    check.after && `${check.after.toISOString()} (after)`,
  ].filter(Boolean);
  return sides.length > 0 ? sides.join(' or ') : 'none in the next five years';
}

/**
 * Refuses a scheduled time that is not an occurrence of its schedule, in the words of whoever asked (`what`
 * names the field or flag). Retention counts generations by their scheduled time, so an invented one would
 * stand in for a real backup.
 */
export function assertOccurrence(
  rule: Pick<ScheduleRule, 'name' | 'expression' | 'timezone'>,
  at: Date,
  what: string,
): void {
  const check = checkOccurrence(rule, at);
  if (check.onSchedule) return;
  throw new InputError(
    `${what} ${at.toISOString()} is not an occurrence of schedule "${rule.name}" (${rule.expression}${rule.timezone ? ` in ${rule.timezone}` : ''}); the nearest are ${nearest(check)}`,
  );
}

/**
 * Refuses a scheduled time no genuine delivery could carry at `now`: later than `now` (beyond clock skew), or
 * older than every retry of Scheduler and Lambda together. A far-future time would otherwise push every real
 * generation out of retention.
 */
export function assertDeliverable(at: Date, now: Date, what: string): void {
  const ahead = at.getTime() - now.getTime();
  if (ahead > FUTURE_SKEW_MS) {
    throw new InputError(
      `${what} ${at.toISOString()} lies ${Math.round(ahead / 60_000)} minutes after the time of the invocation (${now.toISOString()}); a schedule delivers its time when it fires, never ahead of it. Send the occurrence that is due, or use an on-demand backup`,
    );
  }
  const late = -ahead;
  if (late > LATEST_DELIVERY_MS) {
    throw new InputError(
      `${what} ${at.toISOString()} is ${Math.round(late / 60_000)} minutes old, beyond the ${LATEST_DELIVERY_MS / 60_000} minutes within which Scheduler and Lambda retry a delivery; replay old times with the CLI (snapkeeper run --at), or take an on-demand backup`,
    );
  }
}
