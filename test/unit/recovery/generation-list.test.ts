import { describe, expect, it } from 'vitest';
import type { Generation } from '#core/model/generation.ts';
import { type GenerationLookup, listGenerations } from '#core/recovery/generation-list.ts';
import { aGeneration } from '../../support/fakes.ts';

/** A lookup over a fixed list that honours the limit as the catalog does (newest first, one page). */
function lookupOver(generations: Generation[]): GenerationLookup {
  const page = (match: (g: Generation) => boolean, limit = 50) =>
    Promise.resolve(
      generations
        .filter(match)
        .sort((a, b) => b.scheduledAt.localeCompare(a.scheduledAt))
        .slice(0, limit),
    );
  return {
    byVolume: (volumeId, query) =>
      page((g) => g.snapshots.some((s) => s.volumeId === volumeId), query?.limit),
    byTarget: (targetId, query) => page((g) => g.target.id === targetId, query?.limit),
    byPolicy: (policy, query) => page((g) => g.policy === policy, query?.limit),
  };
}

const at = (day: number) => `2026-11-${String(day).padStart(2, '0')}T03:00:00.000Z`;

describe('listGenerations', () => {
  it('merges the policies newest first and keeps the newest overall within the limit', async () => {
    const daily = [1, 3, 5].map((d) => aGeneration({ policy: 'daily', scheduledAt: at(d) }));
    const weekly = [2, 4].map((d) => aGeneration({ policy: 'weekly', scheduledAt: at(d) }));
    const listed = await listGenerations(lookupOver([...daily, ...weekly]), {
      policies: ['daily', 'weekly'],
      limit: 3,
    });
    expect(listed.map((g) => g.scheduledAt)).toEqual([at(5), at(4), at(3)]);
  });

  it("keeps only the given policy's generations of a volume", async () => {
    const volumeId = 'vol-0aaaaaaaaaaaaaaa1';
    const mine = aGeneration({ volumeId, policy: 'daily', scheduledAt: at(2) });
    const other = aGeneration({ volumeId, policy: 'weekly', scheduledAt: at(3) });
    const listed = await listGenerations(lookupOver([mine, other]), {
      volume: volumeId,
      policy: 'daily',
      policies: ['daily'],
      limit: 10,
    });
    expect(listed).toEqual([mine]);
  });
});
