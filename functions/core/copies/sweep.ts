import { type Config, copyRegions } from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import type { CopySlots } from './ports.ts';

/**
 * Frees slots nobody will free: a worker took the slot and died, and the copy it was for is final, gone, or
 * was never started. A slot whose copy is in flight stays: its worker frees it when the copy completes.
 */
export async function sweepSlots(
  deps: { config: Config; catalog: Catalog; slots: CopySlots; clock: Clock; log: Log },
  staleAfterMs: number,
): Promise<{ region: string; key: string }[]> {
  const regions = copyRegions(deps.config);
  const now = deps.clock.now().getTime();
  const freed: { region: string; key: string }[] = [];
  for (const region of regions) {
    try {
      const stale = [...(await deps.slots.held(region))].filter(
        ([, slot]) => now - Date.parse(slot.acquiredAt) >= staleAfterMs,
      );
      const release: string[] = [];
      for (const [key] of stale) {
        // `<generation>#<source>`; an AMI copy's extra slots are `<generation>#<ami>/<n>`.
        const [generationId, slotSource] = key.split('#') as [string, string];
        const sourceId = slotSource.split('/')[0] as string;
        const copy = (await deps.catalog.get(generationId))?.copies.find((c) => c.region === region);
        const inFlight =
          copy?.snapshots.some((s) => s.sourceSnapshotId === sourceId && s.state === 'pending') ||
          copy?.images.some((i) => i.sourceImageId === sourceId && i.state === 'pending');
        if (!inFlight) release.push(key);
      }
      if (release.length > 0) {
        await deps.slots.release(region, release);
        deps.log.warn('copy slots freed', { region, keys: release });
        freed.push(...release.map((key) => ({ region, key })));
      }
    } catch (error) {
      deps.log.error('copy slots not swept', { region, error });
    }
  }
  return freed;
}
