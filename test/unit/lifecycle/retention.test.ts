import { describe, expect, it, vi } from 'vitest';
import type { KeepRule } from '#core/config/config.ts';
import { primaryOf } from '#core/lifecycle/replica.ts';
import { type Expiry, placeInLineage } from '#core/lifecycle/retention.ts';
import type { Generation, GenerationState } from '#core/model/generation.ts';
import { aGenerationOn, plusDays, seededRandom } from '../../support/lifecycle-builders.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A lineage of one volume, newest first, from its states oldest first, one generation a day from Nov 1. */
function lineageOf(...states: GenerationState[]): Generation[] {
  const volumeId = 'vol-0000000000000lin';
  return states.map((state, day) => aGenerationOn(day, { volumeId, state })).reverse();
}

/** The time retention orders and dates generations by: when each was scheduled. */
function timeOf(generation: Generation | undefined): string {
  if (!generation) throw new Error('no such generation in the lineage');
  return generation.scheduledAt;
}

/** A time after every generation of these lineages: none of them lies ahead of it. */
const LATER = '2030-01-01T00:00:00.000Z';

/** Places a lineage of primaries, as of `now`. */
function place(lineage: readonly Generation[], keep: KeepRule, now = LATER): Map<string, Expiry> {
  return placeInLineage(
    lineage.map((g) => primaryOf(g, 'us-east-1')),
    keep,
    now,
  );
}

/**
 * The expiry by definition, computed without the core's bookkeeping: walk forward in time over every instant
 * at which something changes for `generation` (a newer generation is scheduled, its days run out), and answer the
 * first instant at which no rule keeps it. Undefined when a rule keeps it at every instant the lineage holds
 * and would keep it after (the count rule, with too few newer completed generations).
 */
function replayExpiry(
  lineage: readonly Generation[],
  generation: Generation,
  keep: KeepRule,
): string | undefined {
  const born = Date.parse(timeOf(generation));
  const newerCompleted = lineage
    .filter((g) => g.state === 'completed' && g.scheduledAt > generation.scheduledAt)
    .map((g) => Date.parse(timeOf(g)));
  const keptAt = (t: number) => {
    const byCount =
      keep.count !== undefined && newerCompleted.filter((taken) => taken <= t).length < keep.count;
    const byDays = keep.days !== undefined && t < born + keep.days * DAY_MS;
    return byCount || byDays;
  };
  const instants = [
    ...lineage.map((g) => Date.parse(timeOf(g))),
    ...(keep.days !== undefined ? [born + keep.days * DAY_MS] : []),
  ]
    .filter((t) => t >= born)
    .sort((a, b) => a - b);
  for (const t of instants) if (!keptAt(t)) return new Date(t).toISOString();
  // After the last instant nothing changes any more: still kept means kept with no end in sight.
  return undefined;
}

/** A random lineage, newest first: random gaps (an hour to three days), random failed and pending ones. */
function randomLineage(random: ReturnType<typeof seededRandom>): Generation[] {
  const volumeId = 'vol-0000000000000rnd';
  const length = random.int(0, 14);
  const lineage: Generation[] = [];
  let scheduled = Date.parse('2026-11-01T03:00:00.000Z');
  for (let i = 0; i < length; i++) {
    scheduled += random.int(1, 72) * HOUR_MS;
    const scheduledAt = new Date(scheduled).toISOString();
    const takenAt = new Date(scheduled + random.int(0, 300) * 1000).toISOString();
    const state = random.pick<GenerationState>(['completed', 'completed', 'completed', 'failed', 'pending']);
    lineage.push(aGenerationOn(0, { volumeId, scheduledAt, takenAt, state }));
  }
  return lineage.reverse();
}

function randomKeep(random: ReturnType<typeof seededRandom>): KeepRule {
  switch (random.int(0, 2)) {
    case 0:
      return { count: random.int(1, 5) };
    case 1:
      return { days: random.int(1, 10) };
    default:
      return { count: random.int(1, 5), days: random.int(1, 10) };
  }
}

describe('placeInLineage', () => {
  it('agrees with a replay of the lineage over many generated lineages and keep rules', () => {
    const disagreements: string[] = [];
    for (let seed = 1; seed <= 500; seed++) {
      const random = seededRandom(seed);
      const lineage = randomLineage(random);
      const keep = randomKeep(random);
      const placed = place(lineage, keep);
      lineage.forEach((generation, index) => {
        const expected =
          generation.state === 'pending' ? 'not placed' : replayExpiry(lineage, generation, keep);
        const actual = placed.has(generation.id) ? placed.get(generation.id) : 'not placed';
        if (actual !== expected) {
          disagreements.push(
            `seed ${seed}, keep ${JSON.stringify(keep)}, generation #${index} (newest first, ${generation.state}): expected ${expected}, got ${actual}`,
          );
        }
      });
    }
    expect(disagreements.slice(0, 5), `${disagreements.length} disagreements`).toEqual([]);
  });

  it('under a count rule, ends each generation when the n-th completed generation after it was scheduled', () => {
    // Oldest first: day 0 … day 4; count 2 pushes day 0 out when day 2 arrives, day 1 when day 3 arrives.
    const lineage = lineageOf('completed', 'completed', 'completed', 'completed', 'completed');
    const [d4, d3, d2, d1, d0] = lineage;
    const placed = place(lineage, { count: 2 });
    expect(placed.get(d0?.id ?? '')).toBe(timeOf(d2));
    expect(placed.get(d1?.id ?? '')).toBe(timeOf(d3));
    expect(placed.get(d2?.id ?? '')).toBe(timeOf(d4));
    expect(placed.get(d3?.id ?? '')).toBeUndefined();
    expect(placed.get(d4?.id ?? '')).toBeUndefined();
  });

  it('under a days rule, ends each generation that many days after it was scheduled', () => {
    const lineage = lineageOf('completed', 'completed', 'failed');
    const placed = place(lineage, { days: 3 });
    for (const generation of lineage) {
      expect(placed.get(generation.id)).toBe(plusDays(timeOf(generation), 3));
    }
  });

  it('keeps a generation while either rule keeps it when both apply', () => {
    const lineage = lineageOf('completed', 'completed', 'completed', 'completed');
    const [d3, d2, d1, d0] = lineage;
    // count 1 would end day 0 at day 1; days 2 keeps it until day 2: the later one wins.
    const daysLonger = place(lineage, { count: 1, days: 2 });
    expect(daysLonger.get(d0?.id ?? '')).toBe(plusDays(timeOf(d0), 2));
    // count 3 keeps day 0 until day 3; days 1 would have ended it at day 1.
    const countLonger = place(lineage, { count: 3, days: 1 });
    expect(countLonger.get(d0?.id ?? '')).toBe(timeOf(d3));
    // And a count rule not yet satisfied keeps it with no end, whatever the days say.
    expect(countLonger.get(d1?.id ?? '')).toBeUndefined();
    expect(countLonger.get(d2?.id ?? '')).toBeUndefined();
  });

  it('never lets failed generations push a completed one out', () => {
    const lineage = lineageOf('completed', 'failed', 'failed', 'failed', 'completed');
    const [newest, , , , oldest] = lineage;
    const placed = place(lineage, { count: 1 });
    // Three failures in a row leave the good backup in place until the next good one.
    expect(placed.get(oldest?.id ?? '')).toBe(timeOf(newest));
    expect(place(lineage.slice(1), { count: 1 }).get(oldest?.id ?? '')).toBeUndefined();
  });

  it('places failed generations too, so they leave once enough completed ones follow', () => {
    const lineage = lineageOf('failed', 'completed');
    const [completed, failed] = lineage;
    expect(place(lineage, { count: 1 }).get(failed?.id ?? '')).toBe(timeOf(completed));
    expect(place(lineage, { count: 1 }).has(failed?.id ?? '')).toBe(true);
  });

  it('does not place pending generations, nor count them as newer', () => {
    const lineage = lineageOf('completed', 'pending', 'pending');
    const [p2, p1, completed] = lineage;
    const placed = place(lineage, { count: 1, days: 1 });
    expect(placed.has(p1?.id ?? '')).toBe(false);
    expect(placed.has(p2?.id ?? '')).toBe(false);
    expect(placed.get(completed?.id ?? '')).toBeUndefined();
    expect([...placed.keys()]).toEqual([completed?.id]);
  });

  it('gives an expiry that depends only on the lineage, the same whatever the time now is', () => {
    const lineage = lineageOf('completed', 'failed', 'completed', 'completed');
    const keep = { count: 2, days: 1 };
    const answers = ['2026-11-01T00:00:00.000Z', '2026-12-25T00:00:00.000Z', '2031-01-01T00:00:00.000Z'].map(
      (now) => {
        vi.useFakeTimers({ toFake: ['Date'] });
        vi.setSystemTime(new Date(now));
        try {
          return [...place(lineage, keep).entries()];
        } finally {
          vi.useRealTimers();
        }
      },
    );
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(answers[0]?.filter(([, expiry]) => expiry !== undefined)).toHaveLength(2);
  });

  it('places every generation of an empty or single-generation lineage sensibly', () => {
    expect(place([], { count: 3 }).size).toBe(0);
    const [only] = lineageOf('completed');
    expect(place(only ? [only] : [], { count: 1 }).get(only?.id ?? '')).toBeUndefined();
    expect(place(only ? [only] : [], { days: 7 }).get(only?.id ?? '')).toBe(plusDays(timeOf(only), 7));
  });

  it('orders by scheduledAt alone, whatever order the lineage comes in and whenever each was taken', () => {
    const lineage = lineageOf('completed', 'completed', 'completed');
    const [d2, d1, d0] = lineage as [Generation, Generation, Generation];
    // Day 0 was taken late (a delivery that waited a day and a half): it is still the oldest of the three.
    const late = { ...d0, takenAt: plusDays(timeOf(d0), 1.5) };
    const placed = place([d1, late, d2], { count: 1 });
    expect(placed.get(d0.id)).toBe(timeOf(d1));
    expect(placed.get(d1.id)).toBe(timeOf(d2));
    expect(placed.get(d2.id)).toBeUndefined();
  });

  it('neither places nor counts a generation whose time lies after now', () => {
    const lineage = lineageOf('completed', 'completed', 'completed');
    const [d2, d1, d0] = lineage as [Generation, Generation, Generation];
    const ahead = aGenerationOn(365, { volumeId: d0.snapshots[0]?.volumeId, state: 'completed' });
    const now = plusDays(timeOf(d2), 1);
    const placed = place([ahead, ...lineage], { count: 1, days: 1 }, now);
    expect(placed.has(ahead.id)).toBe(false);
    expect(placed.get(d2.id)).toBeUndefined();
    expect(placed.get(d1.id)).toBe(timeOf(d2));
    expect(placed.get(d0.id)).toBe(timeOf(d1));
    // Once its time has come it counts like any other.
    expect(place([ahead, ...lineage], { count: 1 }, timeOf(ahead)).get(d2.id)).toBe(timeOf(ahead));
  });
});
