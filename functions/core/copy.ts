import { createHash } from 'node:crypto';
import { type Config, copyLimit } from './config.ts';
import { copyRulesOf, newCopyRecord } from './copy-queue.ts';
import { describeError } from './errors.ts';
import {
  type CopiedImage,
  type CopiedSnapshot,
  type CopyRecord,
  type Generation,
  isFinalCopy,
} from './generation.ts';
import {
  type Catalog,
  type Clock,
  type CopyMessage,
  type CopyQueue,
  CopyRefusedError,
  type CopyService,
  type CopySlots,
  type FoundCopy,
  type Log,
} from './ports.ts';
import { snapshotTags, TAG } from './tags.ts';

export interface CopyDeps {
  config: Config;
  catalog: Catalog;
  copies: CopyService;
  slots: CopySlots;
  clock: Clock;
  log: Log;
  /** Who holds the slots this step takes: unique per attempt, so a duplicate message is told apart. */
  holder: string;
  /** Spreads retries; seeded in tests and benchmarks. */
  random?: () => number;
}

/** What the queue should do with the message: drop it (the copy is final, or there is nothing to copy) or
 * send it again after `retryAfterSeconds`. */
export type CopyStep =
  | { outcome: 'done'; generationId: string; region: string; state?: CopyRecord['state'] }
  | {
      outcome: 'wait';
      generationId: string;
      region: string;
      retryAfterSeconds: number;
      reason: string;
      /** Whether this step changed the copy (started or finished something) before it had to wait. */
      progressed: boolean;
    };

/** A slot taken but never recorded (its worker died) is taken over after this. Longer than a worker runs. */
export const SLOT_STALE_MS = 5 * 60 * 1000;

/** SQS delays a message at most this long; longer waits are several hops. */
const MAX_DELAY_SECONDS = 900;

/**
 * One step of one generation's copy to one Region, the copy worker's unit of work. Never blocks on EC2: it starts
 * what the Region's copy slots allow, records what it started and what finished, and says when to look again.
 *
 * - **Quota.** A copy is started only while holding one of the Region's `copyLimit` slots (`CopySlots`, a
 *   semaphore in the catalog table shared by every worker), and the slot is freed when the copy is seen to
 *   complete. If EC2 still answers with its quota error (someone else copies into the Region too) or throttles,
 *   the slot is given back and the step waits: a quota is never a failure.
 * - **Order.** Copies of a target go in generation order: while an older generation of the target is still
 *   copying to the Region, this one waits, so each copy finds its predecessor in the Region and EBS copies only
 *   the changed blocks (the same KMS key per Region, from the copy rule, keeps them incremental).
 * - **Idempotence.** Copies are tagged with the generation and their source at creation; a step that finds one
 *   of its copies already in the Region (a worker died before recording it) adopts it instead of copying again.
 */
export async function copyStep(deps: CopyDeps, message: CopyMessage): Promise<CopyStep> {
  const { generationId, region } = message;
  const done = (state?: CopyRecord['state']): CopyStep => ({ outcome: 'done', generationId, region, state });
  const wait = (reason: string, seconds: number, progressed = false): CopyStep => ({
    outcome: 'wait',
    generationId,
    region,
    reason,
    progressed,
    retryAfterSeconds: Math.min(MAX_DELAY_SECONDS, Math.round(seconds * (0.75 + 0.5 * random(deps)))),
  });

  const generation = await deps.catalog.get(generationId);
  if (!generation) {
    deps.log.warn('copy dropped: no such generation', { generationId, region });
    return done();
  }
  const rule = copyRulesOf(deps.config, generation).find((r) => r.region === region);
  let copy = generation.copies.find((c) => c.region === region);
  if (copy && isFinalCopy(copy)) return done(copy.state);
  if (!copy) {
    if (!rule || generation.state !== 'completed' || generation.deletedAt) {
      deps.log.warn('copy dropped: nothing to copy', { generationId, region, state: generation.state });
      return done();
    }
    // The message was sent but the record not written (the sender stopped in between): write it now.
    const now = deps.clock.now().toISOString();
    const written = await deps.catalog.updateCopy(generationId, region, (current) =>
      current ? undefined : newCopyRecord(generation, rule, now),
    );
    copy = written?.copies.find((c) => c.region === region);
    if (!copy) return done();
  }

  const started = copy.snapshots.some((s) => s.snapshotId) || copy.images.some((i) => i.imageId);
  if (!rule && !started) {
    // The rule was taken out of the config while the copy waited: nothing was copied, and nothing will be.
    const failure = `the copy rule of ${generation.policy}/${generation.schedule} for ${region} was removed from the config before the copy started; nothing was copied`;
    await deps.catalog.updateCopy(generationId, region, (current) =>
      current && !isFinalCopy(current) ? { ...current, state: 'failed', failure } : undefined,
    );
    deps.log.warn('copy dropped: rule removed', { generationId, region });
    return done('failed');
  }

  const progress = new Progress(generation.id, copy, deps.clock.now());
  // Copies already started are always followed to the end, so their slots are freed whatever else waits.
  await advanceStarted(progress, region, deps);
  // Only a step with copies still to start waits for older ones: what is already copying is already in order.
  const waiting =
    progress.snapshots.some((s) => s.state === 'waiting' && !s.viaImage) ||
    progress.images.some((i) => i.state === 'waiting');
  const older = waiting ? await olderCopyInFlight(generation, region, deps) : undefined;
  const blocked = older
    ? `older generation ${older} of ${generation.target.id} is still copying to ${region}`
    : await startWaiting(progress, generation, deps);
  const next = progress.result(generation);
  if (next !== copy) await save(next, generation.id, deps);

  if (isFinalCopy(next)) {
    const level = next.state === 'completed' ? 'info' : 'error';
    deps.log[level](`copy ${next.state}`, {
      generationId,
      region,
      lagSeconds: next.lagSeconds,
      failure: next.failure,
    });
    return done(next.state);
  }
  const progressed = next !== copy;
  // Behind an older copy the wait is longer: that copy takes minutes at least, and polling it costs messages.
  if (blocked) return wait(blocked, older ? 300 : blocked.startsWith('throttled') ? 120 : 60, progressed);
  // Everything started is copying: look again in proportion to how long it has taken so far, between 30 s and
  // 2 min, so a slot is freed soon after its copy completes without polling a long copy every 30 s. Measured by
  // test/bench/copy.bench.ts: slots are freed 45 s (mean) after EC2 finishes, about 40 describes per copy.
  const elapsed = (deps.clock.now().getTime() - Date.parse(next.startedAt ?? next.queuedAt)) / 1000;
  return wait('copies in progress', Math.min(120, Math.max(30, elapsed / 16)), progressed);
}

/** What one step learns and changes about a copy; `result` is the new record, or the same one if nothing changed. */
class Progress {
  snapshots: CopiedSnapshot[];
  images: CopiedImage[];
  failure?: string;
  startedAt?: string;
  changed = false;

  constructor(
    readonly generationId: string,
    readonly copy: CopyRecord,
    readonly now: Date,
  ) {
    this.snapshots = copy.snapshots.map((s) => ({ ...s }));
    this.images = copy.images.map((i) => ({ ...i }));
    this.startedAt = copy.startedAt;
    // A copy refused or lost in an earlier step stays failed: it is final once its other copies finish.
    this.failure = copy.failure;
  }

  started() {
    this.startedAt ??= this.now.toISOString();
    this.changed = true;
  }

  result(generation: Generation): CopyRecord {
    if (!this.changed) return this.copy;
    const snapshotIds = this.snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : []));
    const failed = this.failure !== undefined;
    const complete =
      this.snapshots.every((s) => s.state === 'completed') &&
      this.images.every((i) => i.state === 'available');
    const inFlight =
      this.snapshots.some((s) => s.state === 'pending' && !s.viaImage) ||
      this.images.some((i) => i.state === 'pending');
    // A failed copy stays pending until its other copies in flight finish, so their slots are freed as they do.
    const state: CopyRecord['state'] =
      failed && !inFlight ? 'failed' : complete ? 'completed' : this.startedAt ? 'pending' : 'queued';
    const record: CopyRecord = {
      ...this.copy,
      state,
      snapshotIds,
      snapshots: this.snapshots,
      images: this.images,
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      ...(this.failure ? { failure: this.failure } : {}),
    };
    if (state === 'completed') {
      record.completedAt = this.now.toISOString();
      const taken = Date.parse(generation.takenAt ?? generation.scheduledAt);
      record.lagSeconds = Math.max(0, Math.round((this.now.getTime() - taken) / 1000));
    }
    return record;
  }
}

/** Checks the copies already started; frees the slots of those that finished. */
async function advanceStarted(progress: Progress, region: string, deps: CopyDeps) {
  const pending = progress.snapshots.filter((s) => s.state === 'pending' && s.snapshotId && !s.viaImage);
  if (pending.length > 0) {
    const states = await deps.copies.snapshotStates(
      region,
      pending.map((s) => s.snapshotId as string),
    );
    for (const s of pending) {
      const state = states.get(s.snapshotId as string) ?? 'error';
      if (state === 'pending') continue;
      s.state = state;
      progress.changed = true;
      if (state === 'error') {
        progress.failure ??= `copy ${s.snapshotId} of ${s.sourceSnapshotId} in ${region} ${states.has(s.snapshotId as string) ? 'is in error' : 'disappeared'}`;
      }
    }
  }
  for (const image of progress.images.filter((i) => i.state === 'pending' && i.imageId)) {
    const found = await deps.copies.image(region, image.imageId as string);
    const state = found?.state ?? 'failed';
    if (state === 'pending') continue;
    image.state = state;
    progress.changed = true;
    if (state === 'failed') {
      progress.failure ??= `AMI copy ${image.imageId} of ${image.sourceImageId} in ${region} ${found ? 'failed' : 'disappeared'}`;
      continue;
    }
    // The AMI's snapshots come with it: record their copies by the device they image.
    for (const s of progress.snapshots.filter((x) => x.viaImage === image.sourceImageId)) {
      const behind = found?.snapshots.find((b) => b.deviceName === s.deviceName);
      s.state = 'completed';
      if (behind) s.snapshotId = behind.snapshotId;
    }
  }
}

/**
 * Starts waiting copies while the Region has slots. Resolves with why it stopped early (no slot, quota, throttled,
 * a duplicate at work), or undefined when nothing is left waiting.
 */
async function startWaiting(
  progress: Progress,
  generation: Generation,
  deps: CopyDeps,
): Promise<string | undefined> {
  const { copy } = progress;
  const region = copy.region;
  const limit = copyLimit(deps.config, region);
  const waiting = [
    ...progress.images.filter((i) => i.state === 'waiting').map((image) => ({ image })),
    ...progress.snapshots
      .filter((s) => s.state === 'waiting' && !s.viaImage)
      .map((snapshot) => ({ snapshot })),
  ];
  let found: { snapshots: FoundCopy[]; images: FoundCopy[] } | undefined;
  for (const work of waiting) {
    if (progress.failure) return undefined;
    const sourceId = 'image' in work ? work.image.sourceImageId : work.snapshot.sourceSnapshotId;
    const keys =
      'image' in work
        ? imageSlots(generation.id, copy, sourceId).slice(0, limit)
        : [slotKey(generation.id, sourceId)];
    const slot = await acquireAll(keys, region, limit, progress.now, deps);
    if (slot === 'full') return `all ${limit} copy slots of ${region} are in use`;
    if (slot === 'busy')
      return `the slot of ${sourceId} is held (another worker is starting it, or EC2 last answered its quota is full)`;
    // A worker that died after its copy call left the copy in the Region, tagged: adopt it. Looked up once.
    found ??= await deps.copies.copiesOfGeneration(region, generation.id);
    try {
      if ('image' in work) {
        const existing = found.images.find((f) => f.sourceId === sourceId);
        work.image.imageId = existing?.id ?? (await copyImage(work.image, generation, copy, deps));
        work.image.state = 'pending';
      } else {
        const existing = found.snapshots.find((f) => f.sourceId === sourceId);
        work.snapshot.snapshotId =
          existing?.id ?? (await copySnapshot(work.snapshot, generation, copy, deps));
        work.snapshot.state = 'pending';
      }
      progress.started();
    } catch (error) {
      // On EC2's quota error the slots are kept, unused, until they go stale (`SLOT_STALE_MS`): the Region has
      // fewer free copies than the slots say (another tool copies there too), and a slot given back at once would
      // only be taken by the next waiting copy and refused again. Measured by test/bench/copy.bench.ts.
      if (!(error instanceof CopyRefusedError && error.refusal === 'limit'))
        await deps.slots.release(region, keys);
      if (!(error instanceof CopyRefusedError) || error.refusal !== 'refused') {
        if (error instanceof CopyRefusedError) {
          deps.log.warn('copy deferred', {
            generationId: generation.id,
            region,
            refusal: error.refusal,
            error: error.message,
          });
          return error.refusal === 'limit'
            ? `${region} answered its copy quota is full (${error.message})`
            : `throttled by EC2 in ${region}`;
        }
        // Unknown trouble: keep what was started (saved by the caller's finally) and let the queue retry.
        await save(progress.result(generation), generation.id, deps);
        throw error;
      }
      progress.failure = `EC2 refused to copy ${sourceId} to ${region}: ${error.message}`;
      progress.changed = true;
      if ('image' in work) work.image.state = 'failed';
      else work.snapshot.state = 'error';
    }
  }
  return undefined;
}

/**
 * Takes every slot a copy needs, or none: a snapshot copy needs one, an AMI copy one per snapshot behind it
 * (EBS counts each), capped at the Region's limit so a large AMI can still start when the Region is idle.
 */
async function acquireAll(
  keys: readonly string[],
  region: string,
  limit: number,
  now: Date,
  deps: CopyDeps,
): Promise<'acquired' | 'full' | 'busy'> {
  const taken: string[] = [];
  for (const key of keys) {
    const slot = await deps.slots.acquire({
      region,
      key,
      holder: deps.holder,
      limit,
      now: now.toISOString(),
      staleAfterMs: SLOT_STALE_MS,
    });
    if (slot !== 'acquired') {
      if (taken.length > 0) await deps.slots.release(region, taken);
      return slot;
    }
    taken.push(key);
  }
  return 'acquired';
}

/** The slots of an AMI copy: one per snapshot behind the AMI, at least one. */
function imageSlots(generationId: string, copy: CopyRecord, sourceImageId: string): string[] {
  const behind = Math.max(1, copy.snapshots.filter((s) => s.viaImage === sourceImageId).length);
  return Array.from({ length: behind }, (_, i) =>
    slotKey(generationId, i === 0 ? sourceImageId : `${sourceImageId}/${i}`),
  );
}

async function copySnapshot(
  snapshot: CopiedSnapshot,
  generation: Generation,
  copy: CopyRecord,
  deps: CopyDeps,
) {
  const source = generation.snapshots.find((s) => s.snapshotId === snapshot.sourceSnapshotId);
  return deps.copies.copySnapshot({
    region: copy.region,
    sourceRegion: deps.config.region,
    sourceSnapshotId: snapshot.sourceSnapshotId,
    ...(copy.kmsKeyId ? { kmsKeyId: copy.kmsKeyId } : {}),
    // One copy call per snapshot, so unlike an instance set's snapshots each copy names its source volume.
    tags: copyTags(generation, deps.config, source?.volumeTags ?? {}, {
      [TAG.sourceVolume]: snapshot.volumeId,
      [TAG.sourceSnapshot]: snapshot.sourceSnapshotId,
    }),
    description: `snapkeeper ${generation.policy}/${generation.schedule} ${generation.id} copy of ${snapshot.sourceSnapshotId} (${snapshot.volumeId}) from ${deps.config.region}`,
  });
}

async function copyImage(image: CopiedImage, generation: Generation, copy: CopyRecord, deps: CopyDeps) {
  return deps.copies.copyImage({
    region: copy.region,
    sourceRegion: deps.config.region,
    sourceImageId: image.sourceImageId,
    name: `${generation.id}-${image.sourceImageId}`,
    ...(copy.kmsKeyId ? { kmsKeyId: copy.kmsKeyId } : {}),
    tags: copyTags(generation, deps.config, {}, { [TAG.sourceImage]: image.sourceImageId }),
    // The same copy asked twice (a retried step) is one image: EC2 answers the first one's id.
    clientToken: createHash('sha256')
      .update(`${generation.id}\n${copy.region}\n${image.sourceImageId}`)
      .digest('hex')
      .slice(0, 64),
  });
}

/**
 * A copy carries the tags its source was created with (SPEC §3), plus where it came from. snapkeeper's keys
 * always fit: other keys are dropped, last first, when the total would pass EC2's 50.
 */
function copyTags(
  generation: Generation,
  config: Config,
  volumeTags: Record<string, string>,
  origin: Record<string, string>,
): Record<string, string> {
  const policy = config.policies.find((p) => p.name === generation.policy);
  const base = snapshotTags(
    {
      policy: generation.policy,
      schedule: generation.schedule,
      generationId: generation.id,
      target: generation.target,
      scheduledAt: generation.scheduledAt,
      policyTags: policy?.tags ?? {},
    },
    volumeTags,
  );
  const own = { ...origin, [TAG.sourceRegion]: config.region };
  const others = Object.entries(base).filter(([key]) => !key.startsWith('snapkeeper:'));
  const mine = Object.entries({ ...base, ...own }).filter(([key]) => key.startsWith('snapkeeper:'));
  return Object.fromEntries([...others.slice(0, Math.max(0, 50 - mine.length)), ...mine]) as Record<
    string,
    string
  >;
}

/** Writes the step's record unless another step already made the copy final; then frees finished slots. */
async function save(next: CopyRecord, generationId: string, deps: CopyDeps) {
  let final = false;
  await deps.catalog.updateCopy(generationId, next.region, (current) => {
    final = current !== undefined && isFinalCopy(current);
    return final ? recordStarted(current as CopyRecord, next) : mergeStarted(current, next);
  });
  // Over a copy another step already made final, nothing of this step's is in flight: free all it may hold.
  const freed = final ? allSlots(generationId, next) : finishedSlots(generationId, next);
  if (freed.length > 0) await deps.slots.release(next.region, freed);
}

function allSlots(generationId: string, copy: CopyRecord): string[] {
  return [
    ...copy.snapshots.filter((s) => !s.viaImage).map((s) => slotKey(generationId, s.sourceSnapshotId)),
    ...copy.images.flatMap((i) => imageSlots(generationId, copy, i.sourceImageId)),
  ];
}

/** The slot keys of every copy of this record that is no longer in flight. */
function finishedSlots(generationId: string, copy: CopyRecord): string[] {
  const finished = (state: string) => state !== 'pending' && state !== 'waiting';
  return [
    ...copy.snapshots
      .filter((s) => !s.viaImage && finished(s.state))
      .map((s) => slotKey(generationId, s.sourceSnapshotId)),
    ...copy.images
      .filter((i) => finished(i.state))
      .flatMap((i) => imageSlots(generationId, copy, i.sourceImageId)),
  ];
}

/**
 * This step's record, keeping any copy another step started meanwhile (a duplicate message): a started copy is
 * never forgotten, so it is never left in the Region unrecorded.
 */
function mergeStarted(current: CopyRecord | undefined, next: CopyRecord): CopyRecord {
  if (!current) return next;
  const snapshots = next.snapshots.map((s, i) => {
    const theirs = current.snapshots[i];
    return s.state === 'waiting' && theirs?.snapshotId ? theirs : s;
  });
  const images = next.images.map((image, i) => {
    const theirs = current.images[i];
    return image.state === 'waiting' && theirs?.imageId ? theirs : image;
  });
  return {
    ...next,
    snapshots,
    images,
    snapshotIds: snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : [])),
    ...(next.state === 'queued' && snapshots.some((s) => s.snapshotId) ? { state: 'pending' } : {}),
  };
}

/** A copy's slot, named so that a held slot tells which generation and source it is for (see `sweepSlots`). */
/**
 * A final record stays final, but copies this step started that it does not name are added to it (a duplicate
 * that read the record before it failed): a copy is never left in the Region unrecorded, so pruning finds it.
 */
function recordStarted(current: CopyRecord, next: CopyRecord): CopyRecord | undefined {
  const snapshots = current.snapshots.map((s, i) => {
    const mine = next.snapshots[i];
    return !s.snapshotId && mine?.snapshotId ? mine : s;
  });
  const images = current.images.map((image, i) => {
    const mine = next.images[i];
    return !image.imageId && mine?.imageId ? mine : image;
  });
  const added =
    snapshots.some((s, i) => s !== current.snapshots[i]) || images.some((x, i) => x !== current.images[i]);
  if (!added) return undefined;
  return {
    ...current,
    snapshots,
    images,
    snapshotIds: snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : [])),
  };
}

export function slotKey(generationId: string, sourceId: string): string {
  return `${generationId}#${sourceId}`;
}

/**
 * The newest older generation of the same target whose copy to this Region is still queued or copying, if any.
 * Only that one matters: it waits for its own predecessor in turn.
 */
async function olderCopyInFlight(
  generation: Generation,
  region: string,
  deps: CopyDeps,
): Promise<string | undefined> {
  const stuckMs = deps.config.reconcile.stuckAfterMinutes * 60_000;
  const now = deps.clock.now().getTime();
  const older = await deps.catalog.byTarget(generation.target.id, {
    atOrBefore: generation.scheduledAt,
    limit: 8,
  });
  // Strictly older: generations of one target scheduled at the same instant (two schedules firing together) are
  // ordered by id, or each would wait for the other.
  const isOlder = (g: Generation) =>
    g.scheduledAt < generation.scheduledAt ||
    (g.scheduledAt === generation.scheduledAt && g.id < generation.id);
  for (const candidate of older) {
    if (!isOlder(candidate)) continue;
    const theirs = candidate.copies.find((c) => c.region === region);
    if (theirs) return isFinalCopy(theirs) ? undefined : candidate.id;
    // Still being taken, and will be copied here: it goes first, unless it is stuck.
    const willCopy = copyRulesOf(deps.config, candidate).some((r) => r.region === region);
    if (willCopy && candidate.state === 'pending' && now - Date.parse(candidate.claimedAt) < stuckMs) {
      return candidate.id;
    }
  }
  return undefined;
}

function random(deps: CopyDeps): number {
  return (deps.random ?? Math.random)();
}

/** One message as the queue delivered it: `id` tells duplicates apart (the SQS message id). */
export interface DeliveredCopy {
  id: string;
  message: CopyMessage;
}

export interface CopyBatchResult {
  steps: CopyStep[];
  /** Messages whose step threw: left to the queue, which delivers them again and, after five, dead-letters them. */
  failed: { id: string; error: string }[];
}

/**
 * The copy worker: one step per message; a message that must wait is sent again with its delay, so it waits in
 * the queue, not in a Lambda. Shared by the copy-worker Lambda and the CLI's `copy` command.
 */
export async function copyBatch(
  deps: Omit<CopyDeps, 'holder'> & { copyQueue: CopyQueue },
  delivered: readonly DeliveredCopy[],
  options: { maxDelaySeconds?: number } = {},
): Promise<CopyBatchResult> {
  const result: CopyBatchResult = { steps: [], failed: [] };
  // One at a time: steps of one batch often share a Region's slots, and EC2's copy API is the bottleneck.
  for (const { id, message } of delivered) {
    try {
      const step = await copyStep({ ...deps, holder: id }, message);
      if (step.outcome === 'wait') {
        const delay = Math.min(step.retryAfterSeconds, options.maxDelaySeconds ?? MAX_DELAY_SECONDS);
        await deps.copyQueue.send([message], delay);
        deps.log.debug('copy waits', { ...message, reason: step.reason, retryAfterSeconds: delay });
      }
      result.steps.push(step);
    } catch (error) {
      deps.log.error('copy step failed', { ...message, error: describeError(error) });
      result.failed.push({ id, error: describeError(error) });
    }
  }
  return result;
}
