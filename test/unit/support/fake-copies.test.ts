import { describe, expect, it } from 'vitest';
import type { CopyRecord } from '#core/model/generation.ts';
import { FakeCatalog } from '../../support/fake-catalog.ts';
import { FakeCopyQueue, FakeCopySlots } from '../../support/fake-copies.ts';
import { aGeneration, FakeClock } from '../../support/fakes.ts';

// The fakes keep the contracts test/integration/copy-catalog.test.ts checks on the real adapters.

const copy = (region: string, fields: Partial<CopyRecord> = {}): CopyRecord => ({
  region,
  state: 'completed',
  snapshotIds: [],
  snapshots: [],
  images: [],
  queuedAt: '2026-11-21T03:10:00.000Z',
  ...fields,
});

describe('FakeCopySlots', () => {
  const request = { region: 'eu-west-1', limit: 2, now: '2026-11-21T04:00:00.000Z', staleAfterMs: 60_000 };

  it('holds at most the limit, gives a holder its slot again, and takes over only a stale one', async () => {
    const slots = new FakeCopySlots();
    expect(await slots.acquire({ ...request, key: 'a', holder: 'w1' })).toBe('acquired');
    expect(await slots.acquire({ ...request, key: 'b', holder: 'w2' })).toBe('acquired');
    expect(await slots.acquire({ ...request, key: 'c', holder: 'w3' })).toBe('full');
    expect(await slots.acquire({ ...request, key: 'a', holder: 'w1' })).toBe('acquired');
    expect(await slots.acquire({ ...request, key: 'a', holder: 'w9' })).toBe('busy');
    const later = '2026-11-21T04:01:00.000Z';
    expect(await slots.acquire({ ...request, now: later, key: 'a', holder: 'w9' })).toBe('acquired');
    expect((await slots.held('eu-west-1')).get('a')).toEqual({ holder: 'w9', acquiredAt: later });
    await slots.release('eu-west-1', ['b', 'never-held']);
    expect(await slots.acquire({ ...request, key: 'c', holder: 'w3' })).toBe('acquired');
    expect((await slots.held('us-west-2')).size).toBe(0);
  });
});

describe('FakeCopyQueue', () => {
  it('hands out each message once, when its delay (at most 15 minutes) has passed', async () => {
    const clock = new FakeClock('2026-11-21T04:00:00.000Z');
    const queue = new FakeCopyQueue(clock);
    await queue.send([{ generationId: 'gen-1', region: 'eu-west-1' }]);
    await queue.send([{ generationId: 'gen-2', region: 'eu-west-1' }], 3_600);
    expect(queue.take('2026-11-21T04:00:00.000Z').map((m) => m.generationId)).toEqual(['gen-1']);
    expect(queue.take('2026-11-21T04:14:59.000Z')).toEqual([]);
    expect(queue.take('2026-11-21T04:15:00.000Z')).toMatchObject([
      { generationId: 'gen-2', delaySeconds: 900 },
    ]);
    expect(queue.waiting()).toEqual([]);
    expect(queue.sent).toHaveLength(2);
  });
});

describe("FakeCatalog's copies", () => {
  it('writes one Region at a time, after the primary was deleted too, bumping the revision', async () => {
    const generation = aGeneration({ deletedAt: '2026-12-01T00:00:00.000Z' });
    const catalog = new FakeCatalog().seed(generation);
    const written = await catalog.updateCopy(generation.id, 'eu-west-1', () => copy('eu-west-1'));
    await catalog.updateCopy(generation.id, 'ap-southeast-2', () => copy('ap-southeast-2'));
    const unchanged = await catalog.updateCopy(generation.id, 'eu-west-1', () => undefined);
    expect(written?.revision).toBe(1);
    expect(unchanged?.copies.map((c) => c.region)).toEqual(['eu-west-1', 'ap-southeast-2']);
    expect(unchanged?.revision).toBe(2);
    expect(await catalog.updateCopy('gen-none', 'eu-west-1', () => copy('eu-west-1'))).toBeUndefined();
  });

  it('lists a generation as expiring when only a copy is due, and as open while a final copy awaits retention', async () => {
    const generation = aGeneration({ retentionAppliedAt: '2026-11-22T00:00:00.000Z' });
    const catalog = new FakeCatalog().seed(generation);
    expect(await catalog.openGenerations()).toEqual([]);
    await catalog.updateCopy(generation.id, 'eu-west-1', () =>
      copy('eu-west-1', { expiresAt: '2027-01-10T00:00:00.000Z' }),
    );
    expect((await catalog.openGenerations()).map((g) => g.id)).toEqual([generation.id]);
    expect(await catalog.expiring('2027-01-09T23:59:59.000Z')).toEqual([]);
    expect((await catalog.expiring('2027-01-10T00:00:00.000Z')).map((g) => g.id)).toEqual([generation.id]);
  });
});
