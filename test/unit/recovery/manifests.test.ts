import { describe, expect, it } from 'vitest';
import { runSchedule } from '#core/backup/run.ts';
import { prune } from '#core/lifecycle/prune.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import type { CatalogWriter } from '#core/model/catalog.ts';
import { ManifestCatalog, ManifestingCatalog, rebuildCatalog } from '#core/recovery/manifests.ts';
import { parseRestoreRequest, restoreVolume } from '#core/recovery/restore.ts';
import { FakeCatalog } from '../../support/fake-catalog.ts';
import { FakeManifestStore } from '../../support/fake-manifests.ts';
import { aGeneration, anInstance, aVolume, aWorld, policyTag, SCHEDULED_AT } from '../../support/fakes.ts';
import { aGenerationOn, store } from '../../support/lifecycle-builders.ts';

/** A world whose catalog writes manifests, as `wiring.ts` builds it when the config names a bucket. */
function aManifestingWorld(now?: string) {
  const world = aWorld({ now });
  const manifests = new FakeManifestStore();
  const catalog = new ManifestingCatalog(world.catalog, manifests, world.log, world.clock);
  const { config, clock, log, ec2, pruner, markKey } = world;
  return {
    ...world,
    manifests,
    manifestingCatalog: catalog,
    run: () =>
      runSchedule(
        { policy: 'daily', schedule: 'daily', scheduledAt: SCHEDULED_AT },
        { config, inventory: ec2, snapshots: ec2, account: ec2, catalog, clock, log, markKey },
      ),
    reconcile: () =>
      reconcile({
        config,
        catalog,
        snapshots: ec2,
        inventory: ec2,
        account: ec2,
        pruner,
        clock,
        log,
        markKey,
      }),
    prune: () => prune({ config, catalog, pruner, clock, log, markKey }),
  };
}

describe('the manifesting catalog', () => {
  it('writes no manifest while a generation is pending, and one when its outcome is final', async () => {
    const world = aManifestingWorld();
    world.ec2.add(anInstance({ volumes: 2, tags: policyTag('daily') }));
    const id = (await world.run()).results[0]?.generationId ?? '';
    expect(world.manifests.writes).toEqual([]);

    world.ec2.completeAll();
    await world.reconcile();
    // Once when the outcome became final, once when retention placed it: both the catalog record as it stood.
    expect(world.manifests.writes.map((g) => [g.id, g.state, Boolean(g.retentionAppliedAt)])).toEqual([
      [id, 'completed', false],
      [id, 'completed', true],
    ]);
    expect(world.manifests.manifest(id)).toEqual(await world.catalog.get(id));
  });

  it('writes the manifest of a run that failed before it took anything', async () => {
    const world = aManifestingWorld();
    world.ec2.add(anInstance({ tags: policyTag('daily') }));
    world.ec2.faults.failNext('snapshotInstance', { error: new Error('UnauthorizedOperation') });
    const [result] = (await world.run()).results;
    expect(result?.outcome).toBe('failed');
    expect(world.manifests.manifest(result?.generationId ?? '')).toMatchObject({ state: 'failed' });
  });

  it('rewrites the manifest with deletedAt when pruning deletes the generation', async () => {
    const world = aManifestingWorld('2026-11-21T12:00:00.000Z');
    const volume = aVolume();
    world.ec2.add(volume);
    const due = aGenerationOn(10, { volumeId: volume.volumeId, expiresAt: '2026-11-20T00:00:00.000Z' });
    store(world, [due, aGenerationOn(19, { volumeId: volume.volumeId })]);
    await world.prune();
    expect(world.manifests.manifest(due.id)).toMatchObject({
      id: due.id,
      deletedAt: '2026-11-21T12:00:00.000Z',
      snapshots: due.snapshots,
    });
    // Starting the prune is not final; only the deletion is written.
    expect(world.manifests.writes.map((g) => g.id)).toEqual([due.id]);
  });

  it('never fails the catalog call when a manifest cannot be written, and logs it for a rewrite', async () => {
    const world = aManifestingWorld();
    world.ec2.add(anInstance({ volumes: 2, tags: policyTag('daily') }));
    const id = (await world.run()).results[0]?.generationId ?? '';
    world.ec2.completeAll();
    world.manifests.faults.failNext('write', { error: new Error('AccessDenied') });

    const report = await world.reconcile();
    expect(report.completed).toEqual([id]);
    expect(world.log.entries).toContainEqual({
      level: 'error',
      message: 'manifest not written',
      data: expect.objectContaining({
        generationId: id,
        reason: 'outcome',
        error: expect.objectContaining({ message: 'AccessDenied' }),
      }),
    });
    // The retention write in the same pass wrote it again; the stale mark is cleared by the next pass.
    const { manifestStaleAt, ...record } = (await world.catalog.get(id)) ?? { manifestStaleAt: undefined };
    expect(manifestStaleAt).toBeDefined();
    expect(world.manifests.manifest(id)).toEqual(record);
    await world.reconcile();
    expect((await world.catalog.get(id))?.manifestStaleAt).toBeUndefined();
  });

  it('marks a manifest whose last write failed stale, and the next reconcile pass writes it again', async () => {
    const world = aManifestingWorld('2026-11-21T12:00:00.000Z');
    const volume = aVolume();
    world.ec2.add(volume);
    const due = aGenerationOn(10, { volumeId: volume.volumeId, expiresAt: '2026-11-20T00:00:00.000Z' });
    store(world, [due, aGenerationOn(19, { volumeId: volume.volumeId })]);
    world.manifests.faults.failNext('write', { error: new Error('SlowDown') });
    await world.prune();
    // The deletion was the generation's last change: without the mark, its manifest would stay stale for good.
    expect(world.manifests.manifest(due.id)).toBeUndefined();
    expect((await world.catalog.get(due.id))?.manifestStaleAt).toBe('2026-11-21T12:00:00.000Z');
    expect((await world.catalog.openGenerations()).map((g) => g.id)).toEqual([due.id]);

    await world.reconcile();
    expect(world.manifests.manifest(due.id)).toMatchObject({
      id: due.id,
      deletedAt: '2026-11-21T12:00:00.000Z',
    });
    expect(world.manifests.manifest(due.id)?.manifestStaleAt).toBeUndefined();
    expect((await world.catalog.get(due.id))?.manifestStaleAt).toBeUndefined();
    expect(await world.catalog.openGenerations()).toEqual([]);
  });

  it('passes every read through unchanged', async () => {
    const world = aManifestingWorld();
    const generation = aGeneration();
    world.catalog.seed(generation);
    expect(await world.manifestingCatalog.get(generation.id)).toEqual(generation);
    expect(await world.manifestingCatalog.byVolume(generation.snapshots[0]?.volumeId ?? '')).toEqual([
      generation,
    ]);
    expect(world.manifests.writes).toEqual([]);
  });
});

describe('the catalog read from manifests', () => {
  it('restores a volume with the unchanged restore core, its audit entry going to the log', async () => {
    const world = aWorld();
    const manifests = new FakeManifestStore();
    const older = aGeneration({ takenAt: '2026-11-19T03:00:05.000Z' });
    const volumeId = older.snapshots[0]?.volumeId ?? '';
    const newer = aGeneration({ volumeId, takenAt: '2026-11-20T03:00:05.000Z' });
    await manifests.write(older);
    await manifests.write(newer);
    const log = world.log;
    const result = await restoreVolume(
      parseRestoreRequest({ volumeId, availabilityZone: 'us-east-1a', at: '2026-11-19T12:00:00Z' }),
      { ...world, catalog: new ManifestCatalog(manifests, log), actor: 'unit-test' },
    );
    expect(result).toMatchObject({
      generationId: older.id,
      sourceSnapshotId: older.snapshots[0]?.snapshotId,
    });
    expect(log.entries).toContainEqual(
      expect.objectContaining({
        message: 'audit entry (catalog unreachable; not recorded there)',
        data: expect.objectContaining({ action: 'restore-volume', actor: 'unit-test' }),
      }),
    );
  });

  it('is a reader only: it has no write to call, in its type or at run time', () => {
    const catalog = new ManifestCatalog(new FakeManifestStore(), aWorld().log);
    // @ts-expect-error the manifest catalog is not a writer: tsc fails this line once it becomes one
    const asWriter: CatalogWriter = catalog;
    const writes = {
      claim: true,
      takeOver: true,
      recordOutcome: true,
      recordFailure: true,
      markManifest: true,
      update: true,
      updateCopy: true,
    } satisfies Record<keyof CatalogWriter, true>;
    for (const write of [...Object.keys(writes), 'expiring', 'openGenerations'])
      expect(write in asWriter, write).toBe(false);
  });
});

describe('rebuilding the catalog from manifests', () => {
  /** The fake catalog with the adapter's import: every generation with its pointers, overwriting. */
  class ImportingFakeCatalog extends FakeCatalog {
    async importGenerations(generations: readonly Parameters<FakeCatalog['seed']>[0][]): Promise<void> {
      this.seed(...generations);
    }
  }

  it('imports every generation the catalog does not hold, and keeps the records it does', async () => {
    const world = aWorld();
    const manifests = new FakeManifestStore();
    const [a, b, c] = [aGeneration(), aGeneration(), aGeneration()];
    for (const g of [a, b, c]) if (g) await manifests.write(g);
    const catalog = new ImportingFakeCatalog();
    const newer = { ...(b as NonNullable<typeof b>), notes: ['the catalog is newer'] };
    catalog.seed(newer);

    const dry = await rebuildCatalog({ manifests, catalog, log: world.log }, { dryRun: true });
    expect(dry).toMatchObject({ manifests: 3, present: 1, dryRun: true });
    expect(dry.imported.sort()).toEqual([a?.id, c?.id].sort());
    expect(catalog.all()).toHaveLength(1);

    const done = await rebuildCatalog({ manifests, catalog, log: world.log }, { dryRun: false });
    expect(done.imported.sort()).toEqual([a?.id, c?.id].sort());
    expect(await catalog.get(newer.id)).toEqual(newer);
    expect(await catalog.byVolume(a?.snapshots[0]?.volumeId ?? '')).toEqual([a]);

    const again = await rebuildCatalog({ manifests, catalog, log: world.log }, { dryRun: false });
    expect(again).toMatchObject({ manifests: 3, present: 3, imported: [] });
  });
});
