import type {
  AuditEntry,
  AuditTrail,
  Catalog,
  CatalogReader,
  ClaimResult,
  GenerationQuery,
} from '#core/model/catalog.ts';
import {
  type CopyRecord,
  type Generation,
  type GenerationField,
  isFinalCopy,
} from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';

/**
 * Generation manifests: each finished generation, with every snapshot and AMI id in every Region, written to
 * a bucket in the manifest (DR) Region, so backups can still be found and restored when the primary catalog
 * is unreachable, and the catalog can be rebuilt from them (SPEC §4 `manifests`).
 */

/** Which manifests to list. At most one of `volumeId`, `targetId`, `policy` picks the listing; the others filter. */
export interface ManifestQuery extends GenerationQuery {
  volumeId?: string;
  targetId?: string;
  policy?: string;
}

/** The manifests of generations (`S3ManifestStore`). */
export interface ManifestStore {
  /** Writes the generation's manifest, replacing any earlier one: writing it again is harmless. */
  write(generation: Generation): Promise<void>;
  /** Newest first by `scheduledAt`. With no volume, target or policy, every manifest (what a rebuild reads). */
  list(query?: ManifestQuery): Promise<Generation[]>;
  get(generationId: string): Promise<Generation | undefined>;
}

/**
 * The catalog, writing a manifest whenever what a manifest says changes for good: when a generation's outcome
 * becomes final (`recordOutcome` completed or failed, `recordFailure`); when reconcile applies retention to it,
 * which every finished generation gets exactly once, so a manifest whose first write failed is written again
 * there; when retention gives it an expiry, so a catalog rebuilt from manifests still prunes it; and when
 * pruning deletes it, so a manifest never names deleted snapshots without saying so. The same for each DR
 * copy (`updateCopy`): when it becomes final, gets its retention or expiry, or is deleted, so a manifest names
 * the copies usable in every Region. This is the one place manifests are written; run, reconcile, prune and
 * the copy worker do not know about them.
 *
 * A manifest write never fails the catalog call: the catalog is the record of truth and its write already
 * succeeded. A failed manifest is logged and the generation marked stale (`markManifest`), which puts it in
 * reconcile's open work; the next pass writes the manifest again (`openGenerations`) and clears the mark.
 */
export class ManifestingCatalog implements Catalog {
  constructor(
    private readonly inner: Catalog,
    private readonly manifests: ManifestStore,
    private readonly log: Log,
    private readonly clock: Clock,
  ) {}

  claim(generation: Generation): Promise<ClaimResult> {
    return this.inner.claim(generation);
  }

  takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    return this.inner.takeOver(generation, previousClaimedAt);
  }

  async recordOutcome(generation: Generation): Promise<void> {
    await this.inner.recordOutcome(generation);
    if (generation.state !== 'pending') await this.writeManifest(generation.id, 'outcome');
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    await this.inner.recordFailure(generationId, failure);
    await this.writeManifest(generationId, 'outcome');
  }

  async update(generation: Generation, fields: readonly GenerationField[]): Promise<void> {
    await this.inner.update(generation, fields);
    if (generation.state === 'pending') return;
    if (fields.includes('deletedAt') && generation.deletedAt)
      await this.writeManifest(generation.id, 'deleted');
    else if (fields.includes('retentionAppliedAt')) await this.writeManifest(generation.id, 'retention');
    else if (fields.includes('expiresAt')) await this.writeManifest(generation.id, 'expiry');
  }

  /**
   * A copy's manifest-worthy changes are the primary's: it becomes final (with its snapshot ids), gets its
   * retention or expiry, or is deleted. Steps in between (queued, copying) leave the manifest as it is.
   */
  async updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    let before: CopyRecord | undefined;
    let after: CopyRecord | undefined;
    const written = await this.inner.updateCopy(generationId, region, (current, generation) => {
      before = current;
      after = change(current, generation);
      return after;
    });
    const reason = written && after && copyManifestReason(before, after);
    if (written && reason) await this.writeManifest(written, reason);
    return written;
  }

  expiring(atOrBefore: string, limit?: number): Promise<Generation[]> {
    return this.inner.expiring(atOrBefore, limit);
  }

  lineage(
    targetId: string,
    policy: string,
    schedule: string,
    query?: GenerationQuery,
  ): Promise<Generation[]> {
    return this.inner.lineage(targetId, policy, schedule, query);
  }

  get(generationId: string): Promise<Generation | undefined> {
    return this.inner.get(generationId);
  }

  /**
   * Reconcile's read of open work is where stale manifests are swept: each generation marked stale gets its
   * manifest written again from the record, and the mark is cleared once that succeeds.
   */
  async openGenerations(limit?: number): Promise<Generation[]> {
    const open = await this.inner.openGenerations(limit);
    for (const generation of open.filter((g) => g.manifestStaleAt !== undefined)) {
      const staleAt = generation.manifestStaleAt as string;
      if (await this.writeManifest(generation, 'sweep')) {
        await this.inner.markManifest(generation.id, { clearIf: staleAt });
        generation.manifestStaleAt = undefined;
      }
    }
    return open;
  }

  markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    return this.inner.markManifest(generationId, mark);
  }

  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.inner.byTarget(targetId, query);
  }

  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.inner.byVolume(volumeId, query);
  }

  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.inner.byPolicy(policy, query);
  }

  audit(entry: AuditEntry): Promise<void> {
    return this.inner.audit(entry);
  }

  /**
   * The manifest is the record as the catalog now holds it, read back (or as the catalog wrote it), not the
   * caller's copy of it.
   */
  private async writeManifest(generationOrId: string | Generation, reason: ManifestReason): Promise<boolean> {
    const generationId = typeof generationOrId === 'string' ? generationOrId : generationOrId.id;
    try {
      const generation =
        typeof generationOrId === 'string' ? await this.inner.get(generationId) : generationOrId;
      if (!generation) throw new Error(`generation ${generationId} is not in the catalog`);
      const { manifestStaleAt: _mark, ...manifest } = generation;
      await this.manifests.write(manifest);
      this.log.debug('manifest written', { generationId, reason });
      return true;
    } catch (error) {
      this.log.error('manifest not written', {
        generationId,
        reason,
        error,
        retry: 'marked stale: the next reconcile pass writes it again',
      });
      // The mark puts the generation in reconcile's open work; if even the mark fails, the log line is all.
      try {
        await this.inner.markManifest(generationId, { at: this.clock.now().toISOString() });
      } catch (markError) {
        this.log.error('manifest not marked stale', { generationId, error: markError });
      }
      return false;
    }
  }
}

type ManifestReason = 'outcome' | 'retention' | 'expiry' | 'deleted' | 'copy' | 'sweep';

/** Why a copy's change is worth a manifest, or undefined when it is not (see `ManifestingCatalog.updateCopy`). */
function copyManifestReason(before: CopyRecord | undefined, after: CopyRecord): ManifestReason | undefined {
  if (after.deletedAt && !before?.deletedAt) return 'deleted';
  if (after.retentionAppliedAt !== before?.retentionAppliedAt) return 'retention';
  if (after.expiresAt !== before?.expiresAt) return 'expiry';
  if (isFinalCopy(after) && after.state !== before?.state) return 'copy';
  return undefined;
}

/**
 * The catalog read from the manifests, for restores and listings when the primary catalog is unreachable: the
 * restore core runs unchanged on it. It is a reader only, so no code can even try to write through it. The
 * audit entry cannot go to the catalog, so it goes to the log.
 */
export class ManifestCatalog implements CatalogReader, AuditTrail {
  constructor(
    private readonly manifests: ManifestStore,
    private readonly log: Log,
  ) {}

  async lineage(
    targetId: string,
    policy: string,
    schedule: string,
    query: GenerationQuery = {},
  ): Promise<Generation[]> {
    // Manifests are not indexed by schedule; a lineage is the target's listing filtered, which is fine for reads.
    const all = await this.manifests.list({ atOrBefore: query.atOrBefore, targetId, policy });
    const lineage = all.filter((g) => g.target.id === targetId && g.schedule === schedule);
    return query.limit ? lineage.slice(0, query.limit) : lineage;
  }

  get(generationId: string): Promise<Generation | undefined> {
    return this.manifests.get(generationId);
  }

  byTarget(targetId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.manifests.list({ ...query, targetId });
  }

  byVolume(volumeId: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.manifests.list({ ...query, volumeId });
  }

  byPolicy(policy: string, query: GenerationQuery = {}): Promise<Generation[]> {
    return this.manifests.list({ ...query, policy });
  }

  async audit(entry: AuditEntry): Promise<void> {
    this.log.info('audit entry (catalog unreachable; not recorded there)', { ...entry });
  }
}

/** What a rebuild needs of the catalog: `DynamoCatalog` provides both. */
export interface ImportingCatalog {
  get(generationId: string): Promise<Generation | undefined>;
  importGenerations(generations: readonly Generation[]): Promise<void>;
}

export interface RebuildReport {
  /** Manifests found in the bucket. */
  manifests: number;
  /** Of those, generations the catalog already holds: its record is the newer truth, so it is kept. */
  present: number;
  /** Imported, or that would be with `dryRun`. */
  imported: string[];
  dryRun: boolean;
}

/**
 * Recreates catalog records from the manifests: every generation the catalog does not hold, with all its
 * pointers. Records the catalog holds are left alone, so a rebuild can be repeated, or run against a catalog
 * that survived in part, without putting an older state over a newer one.
 */
export async function rebuildCatalog(
  deps: { manifests: ManifestStore; catalog: ImportingCatalog; log: Log },
  options: { dryRun: boolean },
): Promise<RebuildReport> {
  const generations = await deps.manifests.list();
  const missing: Generation[] = [];
  for (let i = 0; i < generations.length; i += 16) {
    const batch = generations.slice(i, i + 16);
    const held = await Promise.all(batch.map((g) => deps.catalog.get(g.id)));
    missing.push(...batch.filter((_, j) => held[j] === undefined));
  }
  if (!options.dryRun && missing.length > 0) await deps.catalog.importGenerations(missing);
  deps.log.info('catalog rebuilt from manifests', {
    manifests: generations.length,
    imported: missing.length,
    dryRun: options.dryRun,
  });
  return {
    manifests: generations.length,
    present: generations.length - missing.length,
    imported: missing.map((g) => g.id),
    dryRun: options.dryRun,
  };
}
