import { describe, expect, it } from 'vitest';
import { gapsOf, scheduleCompliance, scheduleInterval } from '#core/report/compliance.ts';
import { aGeneration } from '../../support/fakes.ts';

const daily = { name: 'daily', expression: 'cron(0 3 * * ? *)' };
const target = { kind: 'volume' as const, id: 'vol-0000000000000000a' };
const day = (d: number, time = '03:00:00.000') => `2026-11-${String(d).padStart(2, '0')}T${time}Z`;
const on = (d: number, fields: Parameters<typeof aGeneration>[0] = {}) =>
  aGeneration({ target, scheduledAt: day(d), takenAt: day(d, '03:00:05.000'), ...fields });
const window = (fromDay: number, at: string) => ({
  from: new Date(day(fromDay, '00:00:00.000')),
  at: new Date(at),
});

describe('schedule compliance', () => {
  it('counts a run that made no generation as missed and a failed generation as failed, not missed', () => {
    const generations = [
      on(14),
      on(15, { state: 'failed', consistency: 'failed', takenAt: undefined }),
      on(17),
    ];
    const result = scheduleCompliance(daily, generations, {
      ...window(14, day(17, '12:00:00.000')),
      since: new Date(day(14)),
    });
    expect(result.due).toBe(4);
    expect(result.missed).toEqual([new Date(day(16)).toISOString()]);
    expect(result.failed).toEqual([day(15)]);
    // 14th to 17th with nothing completed between: three days against a one-day interval.
    expect(result.longestGapSeconds).toBe(3 * 86_400);
    expect(result.breaches).toHaveLength(1);
    expect(result.breach).toBe(false);
  });

  it('does not count an occurrence as due until the grace has passed, nor before the target was first taken', () => {
    const result = scheduleCompliance(daily, [on(16)], {
      ...window(10, day(17, '03:10:00.000')),
      since: new Date(day(16)),
    });
    expect(result.due).toBe(1);
    expect(result.missed).toEqual([]);
  });

  it('breaches when the newest completed generation is older than the interval plus the grace, or there is none', () => {
    const late = scheduleCompliance(daily, [on(15)], window(10, day(16, '03:20:00.000')));
    expect(late.rpoSeconds).toBe(86_400 + 20 * 60 - 5);
    expect(late.breach).toBe(true);
    const none = scheduleCompliance(daily, [], window(10, day(16, '12:00:00.000')));
    expect(none.rpoSeconds).toBeNull();
    expect(none.breach).toBe(true);
  });

  it('takes a pruned generation out of the RPO once it is gone, but keeps it in the gaps', () => {
    const pruned = on(16, { deletedAt: day(16, '06:00:00.000') });
    const result = scheduleCompliance(daily, [on(15), pruned], window(10, day(16, '12:00:00.000')));
    expect(result.rpoSeconds).toBe(33 * 3600 - 5);
    expect(result.longestGapSeconds).toBe(86_400);
  });

  it('judges a rate schedule by its interval, with occurrences not computed', () => {
    const rule = { name: 'six', expression: 'rate(6 hours)' };
    const result = scheduleCompliance(rule, [on(16)], window(10, day(16, '10:00:00.000')));
    expect(result).toMatchObject({ intervalSeconds: 21_600, due: null, missed: [], breach: true });
  });
});

describe('schedule interval', () => {
  it('is the longest time between occurrences: a weekday schedule promises Friday to Monday', () => {
    const weekdays = { expression: 'cron(0 3 ? * MON-FRI *)' };
    expect(scheduleInterval(weekdays, window(16, day(20, '12:00:00.000')))).toBe(3 * 86_400);
  });

  it('counts the longer day when the clock changes in the schedule time zone', () => {
    const paris = { expression: 'cron(0 3 * * ? *)', timezone: 'Europe/Paris' };
    const around = { from: new Date('2026-10-20T00:00:00Z'), at: new Date('2026-10-28T00:00:00Z') };
    expect(scheduleInterval(paris, around)).toBe(25 * 3600);
  });
});

describe('gaps', () => {
  it('start from the newest point before the window and end open at the report time', () => {
    const gaps = gapsOf([day(10), day(14), day(15)], window(12, day(15, '06:00:00.000')));
    expect(gaps.map((g) => g.seconds)).toEqual([4 * 86_400, 86_400, 3 * 3600]);
  });

  it('are none when nothing was ever completed', () => {
    expect(gapsOf([], window(12, day(15)))).toEqual([]);
  });
});
