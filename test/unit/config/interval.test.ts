import { describe, expect, it } from 'vitest';
import { longestGapSeconds } from '#core/config/interval.ts';

const HOUR = 3600;
const gap = (expression: string, timezone?: string) =>
  longestGapSeconds({ expression, ...(timezone ? { timezone } : {}) });

describe('the longest gap of a schedule (the RPO it can promise)', () => {
  it('is the interval of a rate', () => {
    expect(gap('rate(6 hours)')).toBe(6 * HOUR);
    expect(gap('rate(30 minutes)')).toBe(30 * 60);
  });

  it('is a day for a daily cron in UTC, and 25 hours in a zone that changes back from summer time', () => {
    expect(gap('cron(0 3 * * ? *)')).toBe(24 * HOUR);
    expect(gap('cron(15 1 * * ? *)', 'Europe/Paris')).toBe(25 * HOUR);
    expect(gap('cron(15 1 * * ? *)', 'Asia/Tokyo')).toBe(24 * HOUR);
  });

  it('is the weekend for a weekday cron, and the longer half of an uneven day', () => {
    expect(gap('cron(0 2 ? * MON-FRI *)')).toBe(72 * HOUR);
    expect(gap('cron(0 3,9 * * ? *)')).toBe(18 * HOUR);
    expect(gap('cron(0/15 * * * ? *)')).toBe(15 * 60);
  });

  it('finds the four years between two 29 Februaries', () => {
    expect(gap('cron(0 0 29 2 ? *)')).toBe(1461 * 24 * HOUR);
  });

  it('is not computed for the L, W and # forms', () => {
    expect(gap('cron(0 0 L * ? *)')).toBeUndefined();
    expect(gap('cron(0 0 ? * 6#3 *)')).toBeUndefined();
  });
});
