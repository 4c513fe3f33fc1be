import { describe, expect, it } from 'vitest';
import { nextRunAt } from '#core/config/next-run.ts';

/** The next fire time as an ISO string, or undefined. */
function next(expression: string, after: string, timezone?: string): string | undefined {
  return nextRunAt(expression, timezone, new Date(after))?.toISOString();
}

/** The next `n` fire times, each strictly after the one before. */
function nextN(expression: string, after: string, n: number, timezone?: string): (string | undefined)[] {
  const times: (string | undefined)[] = [];
  let from = after;
  for (let i = 0; i < n; i++) {
    const time = next(expression, from, timezone);
    times.push(time);
    if (!time) break;
    from = time;
  }
  return times;
}

describe('nextRunAt in UTC', () => {
  it('fires an hourly schedule at the top of the next hour', () => {
    expect(next('cron(0 * * * ? *)', '2026-11-21T10:20:00.000Z')).toBe('2026-11-21T11:00:00.000Z');
    expect(next('cron(0 * * * ? *)', '2026-11-21T23:59:59.999Z')).toBe('2026-11-22T00:00:00.000Z');
  });

  it('fires a daily schedule today when its time is still ahead, tomorrow otherwise', () => {
    expect(next('cron(0 3 * * ? *)', '2026-11-21T02:59:59.999Z')).toBe('2026-11-21T03:00:00.000Z');
    expect(next('cron(0 3 * * ? *)', '2026-11-21T03:00:00.001Z')).toBe('2026-11-22T03:00:00.000Z');
  });

  it('fires strictly after the given instant, never at it', () => {
    expect(next('cron(0 3 * * ? *)', '2026-11-21T03:00:00.000Z')).toBe('2026-11-22T03:00:00.000Z');
    expect(next('cron(0 * * * ? *)', '2026-11-21T11:00:00.000Z')).toBe('2026-11-21T12:00:00.000Z');
  });

  it('fires a weekly schedule on the next named weekday', () => {
    // 2026-11-21 is a Saturday; the next Sunday is the 22nd, and the one after, the 29th.
    expect(nextN('cron(0 4 ? * SUN *)', '2026-11-21T12:00:00.000Z', 2)).toEqual([
      '2026-11-22T04:00:00.000Z',
      '2026-11-29T04:00:00.000Z',
    ]);
    expect(next('cron(0 4 ? * 1 *)', '2026-11-21T12:00:00.000Z')).toBe('2026-11-22T04:00:00.000Z');
    expect(next('cron(0 4 ? * sat *)', '2026-11-21T03:00:00.000Z')).toBe('2026-11-21T04:00:00.000Z');
  });

  it('reads lists of minutes and hours', () => {
    expect(nextN('cron(0,30 8,20 * * ? *)', '2026-11-21T08:10:00.000Z', 4)).toEqual([
      '2026-11-21T08:30:00.000Z',
      '2026-11-21T20:00:00.000Z',
      '2026-11-21T20:30:00.000Z',
      '2026-11-22T08:00:00.000Z',
    ]);
  });

  it('reads weekday ranges, skipping the weekend', () => {
    // Friday the 20th after its run, then Monday the 23rd.
    expect(next('cron(0 9 ? * MON-FRI *)', '2026-11-20T09:00:00.000Z')).toBe('2026-11-23T09:00:00.000Z');
    expect(next('cron(0 9 ? * 2-6 *)', '2026-11-20T09:00:00.000Z')).toBe('2026-11-23T09:00:00.000Z');
  });

  it('reads steps from a start and from *', () => {
    expect(nextN('cron(0/15 * * * ? *)', '2026-11-21T10:07:00.000Z', 4)).toEqual([
      '2026-11-21T10:15:00.000Z',
      '2026-11-21T10:30:00.000Z',
      '2026-11-21T10:45:00.000Z',
      '2026-11-21T11:00:00.000Z',
    ]);
    expect(nextN('cron(0 1/6 * * ? *)', '2026-11-21T00:00:00.000Z', 5)).toEqual([
      '2026-11-21T01:00:00.000Z',
      '2026-11-21T07:00:00.000Z',
      '2026-11-21T13:00:00.000Z',
      '2026-11-21T19:00:00.000Z',
      '2026-11-22T01:00:00.000Z',
    ]);
    expect(next('cron(*/20 * * * ? *)', '2026-11-21T10:41:00.000Z')).toBe('2026-11-21T11:00:00.000Z');
  });

  it('reads month names and ranges, and days of the month', () => {
    expect(next('cron(0 0 1 JAN ? *)', '2026-11-21T00:00:00.000Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('cron(0 0 1 JAN-MAR ? *)', '2027-01-01T00:00:00.000Z')).toBe('2027-02-01T00:00:00.000Z');
    expect(next('cron(0 0 15 */3 ? *)', '2026-11-21T00:00:00.000Z')).toBe('2027-01-15T00:00:00.000Z');
  });

  it('skips months without the day asked for', () => {
    expect(next('cron(0 0 31 * ? *)', '2026-11-01T00:00:00.000Z')).toBe('2026-12-31T00:00:00.000Z');
    expect(next('cron(0 0 29 2 ? *)', '2026-03-01T00:00:00.000Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('honours the year field', () => {
    expect(next('cron(0 12 1 6 ? 2028)', '2026-11-21T00:00:00.000Z')).toBe('2028-06-01T12:00:00.000Z');
    expect(next('cron(0 12 * * ? 2025)', '2026-11-21T00:00:00.000Z')).toBeUndefined();
  });
});

describe('nextRunAt in a time zone', () => {
  it('reads the cron in the schedule time zone', () => {
    // 03:00 in Berlin is 02:00 UTC in winter (CET) and 01:00 UTC in summer (CEST).
    expect(next('cron(0 3 * * ? *)', '2026-11-21T12:00:00.000Z', 'Europe/Berlin')).toBe(
      '2026-11-22T02:00:00.000Z',
    );
    expect(next('cron(0 3 * * ? *)', '2026-07-01T12:00:00.000Z', 'Europe/Berlin')).toBe(
      '2026-07-02T01:00:00.000Z',
    );
    // A local day that differs from the UTC day: 23:30 in New York is the next day in UTC.
    expect(next('cron(30 23 ? * SAT *)', '2026-11-21T12:00:00.000Z', 'America/New_York')).toBe(
      '2026-11-22T04:30:00.000Z',
    );
  });

  it('keeps a daily schedule at its wall-clock time across the end of summer time (Berlin, last Sunday of October)', () => {
    expect(nextN('cron(0 3 * * ? *)', '2026-10-24T00:00:00.000Z', 3, 'Europe/Berlin')).toEqual([
      '2026-10-24T01:00:00.000Z', // 03:00 CEST
      '2026-10-25T02:00:00.000Z', // 03:00 CET, the day the clocks go back
      '2026-10-26T02:00:00.000Z',
    ]);
  });

  it('fires a wall time that occurs twice when the clocks go back only once, at its first occurrence', () => {
    // 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET) on 2026-10-25.
    expect(nextN('cron(30 2 * * ? *)', '2026-10-24T12:00:00.000Z', 2, 'Europe/Berlin')).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('fires an hourly schedule once in the hour the clocks go back', () => {
    // 02:00 CEST (00:00 UTC), then not 02:00 CET again, but 03:00 CET.
    expect(nextN('cron(0 * * * ? *)', '2026-10-24T23:30:00.000Z', 3, 'Europe/Berlin')).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  it('keeps a daily schedule at its wall-clock time across the start of summer time (New York, March)', () => {
    expect(nextN('cron(0 3 * * ? *)', '2026-03-07T00:00:00.000Z', 3, 'America/New_York')).toEqual([
      '2026-03-07T08:00:00.000Z', // 03:00 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT, the day the clocks go forward
      '2026-03-09T07:00:00.000Z',
    ]);
    // Hourly: 01:00 EST, then 03:00 EDT, one hour later in UTC.
    expect(nextN('cron(0 * * * ? *)', '2026-03-08T05:30:00.000Z', 2, 'America/New_York')).toEqual([
      '2026-03-08T06:00:00.000Z',
      '2026-03-08T07:00:00.000Z',
    ]);
  });

  it('skips a wall time that does not exist on the day the clocks go forward, as EventBridge Scheduler does', () => {
    // 02:30 does not exist in New York on 2026-03-08 (01:59 EST is followed by 03:00 EDT).
    expect(next('cron(30 2 * * ? *)', '2026-03-07T12:00:00.000Z', 'America/New_York')).toBe(
      '2026-03-09T06:30:00.000Z', // 02:30 EDT on the 9th
    );
  });
});

describe('nextRunAt answers undefined when it cannot say', () => {
  it.each([
    ['a rate expression', 'rate(1 hour)'],
    ['a rate in days', 'rate(7 days)'],
    ['the last day of the month (L)', 'cron(0 3 L * ? *)'],
    ['the nearest weekday (W)', 'cron(0 3 15W * ? *)'],
    ['the n-th weekday of the month (#)', 'cron(0 3 ? * 2#1 *)'],
    ['the last weekday of the month (L in day-of-week)', 'cron(0 3 ? * 6L *)'],
    ['an invalid expression', 'cron(0 3 * * *)'],
  ])('for %s', (_, expression) => {
    expect(next(expression, '2026-11-21T00:00:00.000Z')).toBeUndefined();
  });
});
