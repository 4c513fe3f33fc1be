import { describe, expect, it } from 'vitest';
import {
  assertDeliverable,
  assertOccurrence,
  checkOccurrence,
  LATEST_DELIVERY_MS,
  previousRunAt,
} from '#core/config/occurrence.ts';
import { InputError } from '#core/model/errors.ts';

const nightly = { name: 'nightly', expression: 'cron(0 3 * * ? *)' };
const at = (iso: string) => new Date(iso);

describe('occurrences of a schedule', () => {
  it('knows a time the schedule fires at', () => {
    expect(checkOccurrence(nightly, at('2026-11-20T03:00:00Z'))).toMatchObject({ onSchedule: true });
  });

  it('names the occurrences either side of a time it does not fire at', () => {
    const check = checkOccurrence(nightly, at('2026-11-20T04:17:00Z'));
    expect(check).toMatchObject({ onSchedule: false, evaluated: true });
    expect(check.before?.toISOString()).toBe('2026-11-20T03:00:00.000Z');
    expect(check.after?.toISOString()).toBe('2026-11-21T03:00:00.000Z');
  });

  it('follows the schedule time zone across a daylight-saving change', () => {
    const berlin = { name: 'daily', expression: 'cron(0 3 * * ? *)', timezone: 'Europe/Berlin' };
    // 03:00 in Berlin is 02:00 UTC in summer and 01:00 UTC once the clocks went back on 25 October.
    expect(checkOccurrence(berlin, at('2026-10-24T01:00:00Z')).onSchedule).toBe(true);
    expect(checkOccurrence(berlin, at('2026-10-26T02:00:00Z')).onSchedule).toBe(true);
    expect(checkOccurrence(berlin, at('2026-10-26T01:00:00Z')).onSchedule).toBe(false);
  });

  it('finds the previous firing of a weekly schedule', () => {
    const weekly = { expression: 'cron(0 4 ? * SUN *)' };
    expect(previousRunAt(weekly, at('2026-11-25T12:00:00Z'))?.toISOString()).toBe('2026-11-22T04:00:00.000Z');
  });

  it('accepts any time for a rate schedule, whose phase is its creation time', () => {
    expect(checkOccurrence({ expression: 'rate(1 hour)' }, at('2026-11-20T04:17:00Z'))).toEqual({
      onSchedule: true,
      evaluated: false,
    });
  });

  it('refuses an off-schedule time in the words of the caller, naming the nearest occurrences', () => {
    expect(() => assertOccurrence(nightly, at('2026-11-20T04:17:00Z'), '--at')).toThrow(InputError);
    expect(() => assertOccurrence(nightly, at('2026-11-20T04:17:00Z'), '--at')).toThrow(
      /--at 2026-11-20T04:17:00.000Z is not an occurrence of schedule "nightly" \(cron\(0 3 \* \* \? \*\)\); the nearest are 2026-11-20T03:00:00.000Z \(before\) or 2026-11-21T03:00:00.000Z \(after\)/,
    );
  });
});

describe('the delivery window of a scheduled run', () => {
  const now = at('2026-12-01T03:10:00Z');

  it('accepts a time delivered late by retries, up to their bound', () => {
    expect(() =>
      assertDeliverable(new Date(now.getTime() - LATEST_DELIVERY_MS), now, 'scheduledAt'),
    ).not.toThrow();
  });

  it('refuses a time in the future beyond clock skew', () => {
    expect(() => assertDeliverable(at('2027-12-01T03:00:00Z'), now, 'scheduledAt')).toThrow(
      /scheduledAt 2027-12-01T03:00:00.000Z lies \d+ minutes after the time of the invocation/,
    );
  });

  it('refuses a time older than every retry of Scheduler and Lambda', () => {
    expect(() => assertDeliverable(at('2026-11-20T03:00:00Z'), now, 'scheduledAt')).toThrow(
      /is \d+ minutes old, beyond the 120 minutes within which Scheduler and Lambda retry a delivery/,
    );
  });
});
