import { createHash } from 'node:crypto';
import { type Config, copyLimit, scheduleOf } from '#core/config/config.ts';
import { CopyRefusedError } from '#core/model/errors.ts';
import {
  type CopiedImage,
  type CopiedSnapshot,
  type CopyRecord,
  type Generation,
  isFinalCopy,
} from '#core/model/generation.ts';
import { markOf } from '#core/model/mark.ts';
import { MAX_TAGS, snapshotTags, TAG } from '#core/model/tags.ts';
import type { CopyDeps, FoundCopy } from './ports.ts';
import {
  allSlots,
  finishedSlots,
  imageSlots,
  mergeStarted,
  type Progress,
  recordStarted,
  slotKey,
} from './record.ts';

/**
 * The copy worker's work in EC2 and the catalog (`copy.ts`): following started copies, starting waiting ones
 * within the Region's slots, the tags a copy is created with, and saving a step's record.
 */

/** A slot taken but never recorded (its worker died) is taken over after this. Longer than a worker runs. */
export const SLOT_STALE_MS = 5 * 60 * 1000;

/** Checks the copies already started; frees the slots of those that finished. */
export async function advanceStarted(progress: Progress, region: string, deps: CopyDeps) {
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

/** Why a step stopped starting copies, and how long its message should wait before the next try. */
export interface Blocked {
  reason: string;
  seconds: number;
}

/**
 * Starts waiting copies while the Region has slots. Resolves with why it stopped early (no slot, quota, throttled,
 * a duplicate at work), or undefined when nothing is left waiting.
 */
export async function startWaiting(
  progress: Progress,
  generation: Generation,
  deps: CopyDeps,
): Promise<Blocked | undefined> {
  const { copy } = progress;
  const region = copy.region;
  const limit = copyLimit(deps.config, region);
  const waiting = progress.waiting();
  let found: { snapshots: FoundCopy[]; images: FoundCopy[] } | undefined;
  for (const work of waiting) {
    if (progress.failure) return undefined;
    const sourceId = 'image' in work ? work.image.sourceImageId : work.snapshot.sourceSnapshotId;
    const keys =
      'image' in work
        ? imageSlots(generation.id, copy, sourceId).slice(0, limit)
        : [slotKey(generation.id, sourceId)];
    const slot = await acquireAll(keys, region, limit, progress.now, deps);
    if (slot === 'full') return { reason: `all ${limit} copy slots of ${region} are in use`, seconds: 60 };
    if (slot === 'busy')
      return {
        reason: `the slot of ${sourceId} is held (another worker is starting it, or EC2 last answered its quota is full)`,
        seconds: 60,
      };
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
            ? { reason: `${region} answered its copy quota is full (${error.message})`, seconds: 60 }
            : { reason: `throttled by EC2 in ${region}`, seconds: 120 };
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
export async function acquireAll(
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

export async function copySnapshot(
  snapshot: CopiedSnapshot,
  generation: Generation,
  copy: CopyRecord,
  deps: CopyDeps,
) {
  const source = generation.snapshots.find((s) => s.snapshotId === snapshot.sourceSnapshotId);
  const mark = await copyMark(generation, snapshot.sourceSnapshotId, copy.region, deps);
  return deps.copies.copySnapshot({
    region: copy.region,
    sourceRegion: deps.config.region,
    sourceSnapshotId: snapshot.sourceSnapshotId,
    ...(copy.kmsKeyId ? { kmsKeyId: copy.kmsKeyId } : {}),
    // One copy call per snapshot, so unlike an instance set's snapshots each copy names its source volume.
    tags: copyTags(generation, deps.config, source?.volumeTags ?? {}, {
      [TAG.sourceVolume]: snapshot.volumeId,
      [TAG.sourceSnapshot]: snapshot.sourceSnapshotId,
      [TAG.mark]: mark,
    }),
    description: `snapkeeper ${generation.policy}/${generation.schedule} ${generation.id} copy of ${snapshot.sourceSnapshotId} (${snapshot.volumeId}) from ${deps.config.region}`,
  });
}

export async function copyImage(
  image: CopiedImage,
  generation: Generation,
  copy: CopyRecord,
  deps: CopyDeps,
) {
  const mark = await copyMark(generation, image.sourceImageId, copy.region, deps);
  return deps.copies.copyImage({
    region: copy.region,
    sourceRegion: deps.config.region,
    sourceImageId: image.sourceImageId,
    name: `${generation.id}-${image.sourceImageId}`,
    ...(copy.kmsKeyId ? { kmsKeyId: copy.kmsKeyId } : {}),
    // The copied AMI and the snapshots behind it share one tag specification, so they share its mark.
    tags: copyTags(generation, deps.config, {}, { [TAG.sourceImage]: image.sourceImageId, [TAG.mark]: mark }),
    // The same copy asked twice (a retried step) is one image: EC2 answers the first one's id.
    clientToken: createHash('sha256')
      .update(`${generation.id}\n${copy.region}\n${image.sourceImageId}`)
      .digest('hex')
      .slice(0, 64),
  });
}

/** A DR copy's mark: over the generation, the source it copies and the Region it is made in. */
async function copyMark(generation: Generation, sourceId: string, region: string, deps: CopyDeps) {
  return markOf(await deps.markKey.secret(), { kind: 'copy', generationId: generation.id, sourceId, region });
}

/**
 * A copy carries the tags its source was created with (SPEC §3), plus where it came from. snapkeeper's keys
 * always fit: other keys are dropped, last first, when the total would pass EC2's limit (MAX_TAGS).
 */
export function copyTags(
  generation: Generation,
  config: Config,
  volumeTags: Record<string, string>,
  origin: Record<string, string>,
): Record<string, string> {
  const { policy } = scheduleOf(config, generation);
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
  return Object.fromEntries([...others.slice(0, Math.max(0, MAX_TAGS - mine.length)), ...mine]) as Record<
    string,
    string
  >;
}

/** Writes the step's record unless another step already made the copy final; then frees finished slots. */
export async function save(next: CopyRecord, generationId: string, deps: CopyDeps) {
  let final = false;
  await deps.catalog.updateCopy(generationId, next.region, (current) => {
    final = current !== undefined && isFinalCopy(current);
    return final ? recordStarted(current as CopyRecord, next) : mergeStarted(current, next);
  });
  // Over a copy another step already made final, nothing of this step's is in flight: free all it may hold.
  const freed = final ? allSlots(generationId, next) : finishedSlots(generationId, next);
  if (freed.length > 0) await deps.slots.release(next.region, freed);
}
