import type { ImageService, SnapshotService } from '#core/backup/ports.ts';
import type { CopyQueue, CopySlots } from '#core/copies/ports.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Log } from '#core/model/ports.ts';
import { DryRunCatalog, type WouldWrite } from './dry-run-catalog.ts';
import type { Pruner } from './ports.ts';
import { type ReconcileDeps, type ReconcileReport, reconcile } from './reconcile.ts';

/**
 * `reconcile --dry-run`: the pass as it would run now, changing nothing. The core is not told: it runs on ports
 * whose writes are recorders. Reads reach AWS as in a real pass; every write (catalog, deletes, copy messages,
 * slot releases) is recorded instead, and the catalog's recorder answers later reads with what the pass would
 * have written, so the pass takes the decisions a real one would. Creates are refused outright: reconcile never
 * creates, and a dry run must not start doing so unnoticed.
 */

/** One thing the pass would do, with why, in words an operator can check before letting it happen. */
export interface WouldDo {
  action:
    | 'complete'
    | 'fail'
    | 'record orphan'
    | 'delete orphan'
    | 'hold orphan'
    | 'queue copies'
    | 'set expiry'
    | 'prune'
    | 'hold'
    | 'free copy slot';
  generationId?: string;
  /** For a DR copy, or a copy slot: the Region it is in. */
  region?: string;
  /** The snapshots, AMIs or slot the action touches. */
  resources?: string[];
  reason: string;
}

/** The report of a pass that changed nothing: what it would have reported, each action with its reason, and every
 * write it would have made. */
export interface ReconcileDryRun extends ReconcileReport {
  dryRun: true;
  actions: WouldDo[];
  writes: WouldWrite[];
}

/** One reconcile pass in planning mode: see the module comment. */
export async function reconcileDryRun(deps: ReconcileDeps): Promise<ReconcileDryRun> {
  const writes: WouldWrite[] = [];
  const record = (write: WouldWrite) => writes.push(write);
  const catalog = new DryRunCatalog(deps.catalog, record);
  const { copyQueue, slots, images, ...rest } = deps;
  const report = await reconcile({
    ...rest,
    catalog,
    snapshots: readOnlySnapshots(deps.snapshots),
    pruner: recordingPruner(deps.pruner, record),
    log: dryRunLog(deps.log),
    ...(copyQueue ? { copyQueue: recordingQueue(record) } : {}),
    ...(slots ? { slots: recordingSlots(slots, record) } : {}),
    ...(images ? { images: readOnlyImages(images) } : {}),
  });
  return { dryRun: true, ...report, actions: await actionsOf(report, catalog, writes), writes };
}

/** The report's entries as actions with reasons, in the order the pass takes them. */
async function actionsOf(
  report: ReconcileReport,
  catalog: DryRunCatalog,
  writes: readonly WouldWrite[],
): Promise<WouldDo[]> {
  const actions: WouldDo[] = [];
  for (const generationId of report.completed) {
    actions.push({ action: 'complete', generationId, reason: 'every snapshot of it has completed in EC2' });
  }
  for (const { generationId, failure } of report.failed)
    actions.push({ action: 'fail', generationId, reason: failure });
  const orphans = [
    ['record orphan', report.orphans.recorded],
    ['delete orphan', report.orphans.deleted],
    ['hold orphan', report.orphans.held],
  ] as const;
  for (const [action, entries] of orphans) {
    for (const { generationId, snapshotId, reason } of entries) {
      actions.push({ action, generationId, resources: [snapshotId], reason });
    }
  }
  for (const generationId of report.copiesQueued) {
    const regions = writes
      .filter((w) => w.call === 'SendMessage' && w.subject === generationId)
      .map((w) => w.region);
    actions.push({
      action: 'queue copies',
      generationId,
      reason: `it completed and its schedule copies to ${regions.join(', ')}, with no copy queued there yet`,
    });
  }
  for (const { generationId, expiresAt, ...where } of [...report.expiries, ...report.copyExpiries]) {
    actions.push({
      action: 'set expiry',
      generationId,
      ...where,
      reason: `retention places it in its lineage under the keep rule: it expires at ${expiresAt}`,
    });
  }
  for (const { generationId, region, snapshotIds, amiIds } of report.pruned) {
    const replica = lifecycleOf(await catalog.get(generationId), region);
    const resumed = lifecycleOf(catalog.before(generationId), region)?.pruneStartedAt;
    actions.push({
      action: 'prune',
      generationId,
      ...(region ? { region } : {}),
      resources: [...(amiIds ?? []), ...snapshotIds],
      reason: resumed
        ? `a prune of it began at ${resumed} and was interrupted; it is finished`
        : `it expired at ${replica?.expiresAt ?? 'an unrecorded time'} and no interlock holds it`,
    });
  }
  for (const { generationId, region, reason } of report.held) {
    actions.push({ action: 'hold', generationId, ...(region ? { region } : {}), reason });
  }
  for (const { region, key } of report.slotsFreed) {
    actions.push({
      action: 'free copy slot',
      region,
      resources: [key],
      reason: 'the worker that took it stopped, and its copy is not in flight',
    });
  }
  return actions;
}

/** The lifecycle fields of the generation's primary, or of its copy in `region`. */
function lifecycleOf(generation: Generation | undefined, region: string | undefined) {
  if (!generation || !region) return generation;
  return generation.copies.find((c) => c.region === region);
}

function refuse(call: string): never {
  throw new Error(`a reconcile dry run makes no ${call} call`);
}

function readOnlySnapshots(snapshots: SnapshotService): SnapshotService {
  return {
    snapshotStates: (ids) => snapshots.snapshotStates(ids),
    snapshotsOfGenerations: (ids) => snapshots.snapshotsOfGenerations(ids),
    snapshotInstance: () => refuse('CreateSnapshots'),
    snapshotVolume: () => refuse('CreateSnapshot'),
  };
}

function readOnlyImages(images: ImageService): ImageService {
  return {
    imageSnapshots: (imageId) => images.imageSnapshots(imageId),
    imagesOfGeneration: (generationId) => images.imagesOfGeneration(generationId),
    createImage: () => refuse('CreateImage'),
    deprecate: () => refuse('EnableImageDeprecation'),
  };
}

/** EC2's answers as the pruner reads them; its deletes recorded, answered as done. */
function recordingPruner(pruner: Pruner, record: (write: WouldWrite) => void): Pruner {
  return {
    snapshotOwnership: (region, ids) => pruner.snapshotOwnership(region, ids),
    imageOwnership: (region, imageId) => pruner.imageOwnership(region, imageId),
    imagesUsing: (region, ids) => pruner.imagesUsing(region, ids),
    existingTargets: (ids) => pruner.existingTargets(ids),
    deleteSnapshot: async (region, snapshotId) => {
      record({ call: 'DeleteSnapshot', subject: snapshotId, region });
      return 'deleted';
    },
    deregisterImage: async (region, imageId) => {
      record({ call: 'DeregisterImage', subject: imageId, region });
      return 'deregistered';
    },
  };
}

function recordingQueue(record: (write: WouldWrite) => void): CopyQueue {
  return {
    send: async (messages) => {
      for (const m of messages) record({ call: 'SendMessage', subject: m.generationId, region: m.region });
    },
  };
}

function recordingSlots(slots: CopySlots, record: (write: WouldWrite) => void): CopySlots {
  return {
    held: (region) => slots.held(region),
    acquire: () => refuse('copy slot acquire'),
    release: async (region, keys) => {
      for (const key of keys) record({ call: 'catalog: release copy slot', subject: key, region });
    },
  };
}

/** The pass's log lines, each saying it was a dry run: a reader of the logs must not take them for changes. */
function dryRunLog(log: Log): Log {
  return {
    debug: (message, data) => log.debug(message, { ...data, dryRun: true }),
    info: (message, data) => log.info(message, { ...data, dryRun: true }),
    warn: (message, data) => log.warn(message, { ...data, dryRun: true }),
    error: (message, data) => log.error(message, { ...data, dryRun: true }),
  };
}
