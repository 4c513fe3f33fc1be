import { z } from 'zod';
import type { InstanceInfo, Inventory, VolumeInfo } from '#core/backup/ports.ts';
import type { Config } from '#core/config/config.ts';
import type { CatalogReader } from '#core/model/catalog.ts';

/** What `report` reads: the catalog, the Region's whole fleet, EC2's snapshot sizes and the drills' records. */

/** Every instance and volume in the Region, tagged or not: what the unprotected list is drawn from. */
export interface Fleet {
  allResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }>;
}

/** What EC2 says a snapshot holds (`FullSnapshotSizeInBytes`), for the snapshots it reports it for. */
export interface SnapshotSizes {
  /** Sizes in bytes by snapshot id; a snapshot EC2 gives no size for (or that is gone) is absent. */
  fullSizes(snapshotIds: readonly string[]): Promise<Map<string, number>>;
}

/**
 * One restore drill's outcome, as the drill records it in the catalog (one item per drill):
 * pk `DRILL#<target id>`, sk `<finishedAt>#<drill id>` (`catalogKeys.drill` in `adapters/catalog/layout.ts`),
 * with these fields as attributes. `rtoSeconds` is from the drill's start to the restored resource being usable.
 * The drill writes it; `report` only reads the newest one at or before its time.
 */
export const DrillRecordSchema = z.object({
  id: z.string().min(1),
  targetId: z.string().min(1),
  generationId: z.string().min(1),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  outcome: z.enum(['passed', 'failed']),
  /** Seconds from the drill's start to the restored volume or instance being usable; absent when it failed. */
  rtoSeconds: z.number().nonnegative().optional(),
  failure: z.string().optional(),
});

export type DrillRecord = z.infer<typeof DrillRecordSchema>;

/** The drills' records (`DynamoDrillHistory`). */
export interface DrillHistory {
  /** The newest drill of this target that finished at or before `atOrBefore` (ISO), if any. */
  lastDrill(targetId: string, atOrBefore: string): Promise<DrillRecord | undefined>;
}

export interface ReportDeps {
  config: Config;
  catalog: Pick<CatalogReader, 'byPolicy' | 'byTarget' | 'byVolume'>;
  /** What each policy selects now (tagged targets not yet backed up count as targets too). */
  inventory: Inventory;
  fleet: Fleet;
  sizes: SnapshotSizes;
  drills: DrillHistory;
}
