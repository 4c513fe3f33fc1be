import {
  type Config,
  type CopyRule,
  copiesForSchedule,
  type KeepRule,
  scheduleOf,
} from '#core/config/config.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { InputError, NotFoundError } from '#core/model/errors.ts';
import type { CopyRecord, Generation } from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import type { CopyQueue } from './ports.ts';

export interface QueueCopiesDeps {
  config: Config;
  catalog: Catalog;
  clock: Clock;
  log: Log;
  /** Absent when the config copies nothing; a config that copies and has no queue is a wiring mistake. */
  copyQueue?: CopyQueue;
}

/** The copy rules a generation falls under, with retention resolved; empty when its schedule copies nowhere. */
export function copyRulesOf(config: Config, generation: Generation): Array<CopyRule & { keep: KeepRule }> {
  const { policy, schedule } = scheduleOf(config, generation);
  return policy && schedule ? copiesForSchedule(policy, schedule) : [];
}

/** The copy rules of a generation whose Region has no copy record yet: the copies still to queue. */
export function unqueuedCopies(config: Config, generation: Generation): Array<CopyRule & { keep: KeepRule }> {
  return copyRulesOf(config, generation).filter(
    (rule) => !generation.copies.some((c) => c.region === rule.region),
  );
}

/** A copy record as it starts: every snapshot waiting, the AMIs too, in the order of the generation's snapshots. */
export function newCopyRecord(generation: Generation, rule: CopyRule, now: string): CopyRecord {
  const amiIds = [
    ...new Set(
      [generation.amiId, ...generation.snapshots.map((s) => s.amiId)].filter((id) => id !== undefined),
    ),
  ];
  return {
    region: rule.region,
    state: 'queued',
    snapshotIds: [],
    snapshots: generation.snapshots.map((s) => ({
      sourceSnapshotId: s.snapshotId,
      volumeId: s.volumeId,
      state: 'waiting',
      ...(s.amiId ? { viaImage: s.amiId, ...(s.deviceName ? { deviceName: s.deviceName } : {}) } : {}),
    })),
    images: amiIds.map((sourceImageId) => ({ sourceImageId, state: 'waiting' })),
    ...(rule.kmsKeyId ? { kmsKeyId: rule.kmsKeyId } : {}),
    queuedAt: now,
  };
}

/**
 * Puts a completed generation's copies in the copy queue: for each copy Region it has no record for yet, the
 * message is sent first and the record written after. A message without a record is harmless (the worker
 * writes the record itself); a record without a message could never happen, because the record is what
 * reconcile checks. Resolves true when every copy is queued, false (logged) when one could not be.
 */
export async function queueCopies(deps: QueueCopiesDeps, generation: Generation): Promise<boolean> {
  if (generation.state !== 'completed' || generation.deletedAt) return true;
  const missing = unqueuedCopies(deps.config, generation);
  if (missing.length === 0) return true;
  if (!deps.copyQueue) {
    deps.log.error('copies not queued', {
      generationId: generation.id,
      error: 'no copy queue is wired in; set SNAPKEEPER_COPY_QUEUE_URL',
    });
    return false;
  }
  try {
    await deps.copyQueue.send(missing.map((rule) => ({ generationId: generation.id, region: rule.region })));
    const now = deps.clock.now().toISOString();
    for (const rule of missing) {
      await deps.catalog.updateCopy(generation.id, rule.region, (current) =>
        current ? undefined : newCopyRecord(generation, rule, now),
      );
    }
    deps.log.info('copies queued', { generationId: generation.id, regions: missing.map((r) => r.region) });
    return true;
  } catch (error) {
    // Reconcile finds the generation without its copy records and queues them again.
    deps.log.error('copies not queued', { generationId: generation.id, error });
    return false;
  }
}

/**
 * Queues a failed copy again once its cause is fixed (a KMS key policy, a source restored): copies that
 * completed stay, the rest start over, and the failure is kept in the copy's notes. Resolves with the copy as
 * queued. Only a failed copy can be retried; anything else is an `InputError` that says what it is.
 */
export async function retryCopy(
  deps: QueueCopiesDeps,
  generationId: string,
  region: string,
): Promise<CopyRecord> {
  const generation = await deps.catalog.get(generationId);
  if (!generation) throw new NotFoundError(`generation ${generationId} is not in the catalog`);
  const copy = generation.copies.find((c) => c.region === region);
  if (!copy) {
    const regions = generation.copies.map((c) => c.region).join(', ') || 'none';
    throw new InputError(
      `generation ${generationId} has no copy to ${region} (its copy Regions: ${regions})`,
    );
  }
  if (copy.state !== 'failed') {
    throw new InputError(
      `the copy of ${generationId} to ${region} is ${copy.state}; only a failed copy is retried`,
    );
  }
  if (!copyRulesOf(deps.config, generation).some((r) => r.region === region)) {
    throw new InputError(
      `the config has no copy rule of ${generation.policy}/${generation.schedule} for ${region}; add it back to retry the copy`,
    );
  }
  if (!deps.copyQueue)
    throw new InputError('no copy queue is known: set SNAPKEEPER_COPY_QUEUE_URL or run snapkeeper init');
  const now = deps.clock.now().toISOString();
  let queued: CopyRecord | undefined;
  await deps.catalog.updateCopy(generationId, region, (current) => {
    if (current?.state !== 'failed') return undefined;
    queued = {
      ...current,
      state: 'queued',
      snapshots: current.snapshots.map(({ snapshotId, ...s }) =>
        s.state === 'completed' ? { ...s, snapshotId } : { ...s, state: 'waiting' },
      ),
      images: current.images.map(({ imageId, ...i }) =>
        i.state === 'available' ? { ...i, imageId } : { ...i, state: 'waiting' },
      ),
      queuedAt: now,
      failure: undefined,
      retentionAppliedAt: undefined,
      expiresAt: undefined,
      heldBecause: undefined,
      notes: [
        ...(current.notes ?? []),
        `retried at ${now} after: ${current.failure ?? 'an unrecorded failure'}`,
      ],
    };
    queued.snapshotIds = queued.snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : []));
    return queued;
  });
  if (!queued) throw new InputError(`the copy of ${generationId} to ${region} changed meanwhile; look again`);
  await deps.copyQueue.send([{ generationId, region }]);
  deps.log.info('copy retried', { generationId, region });
  return queued;
}
