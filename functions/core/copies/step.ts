import { describeError } from '#core/model/errors.ts';
import { type CopyRecord, type Generation, isFinalCopy } from '#core/model/generation.ts';
import { type CopyDeps, type CopyMessage, type CopyQueue, MAX_COPY_DELAY_SECONDS } from './ports.ts';
import { copyRulesOf, newCopyRecord } from './queue.ts';
import { Progress } from './record.ts';
import { advanceStarted, save, startWaiting } from './start.ts';

/** What the queue should do with the message: drop it (the copy is final, or there is nothing to copy) or
 * send it again after `retryAfterSeconds`. */
export type CopyStep =
  | {
      outcome: 'done';
      generationId: string;
      region: string;
      state?: CopyRecord['state'];
      /** Set by the step that saw the copy complete (once per copy): its lag (`CopyRecord.lagSeconds`). */
      lagSeconds?: number;
    }
  | {
      outcome: 'wait';
      generationId: string;
      region: string;
      retryAfterSeconds: number;
      reason: string;
      /** Whether this step changed the copy (started or finished something) before it had to wait. */
      progressed: boolean;
    };

export { SLOT_STALE_MS } from './start.ts';

/**
 * One step of one generation's copy to one Region, the copy worker's unit of work. Never blocks on EC2: it starts
 * what the Region's copy slots allow, records what it started and what finished, and says when to look again.
 *
 * - **Quota.** A copy is started only while holding one of the Region's `copyLimit` slots (`CopySlots`, a
 *   semaphore in the catalog table shared by every worker), and the slot is freed when the copy is seen to
 *   complete. If EC2 still answers with its quota error (someone else copies into the Region too), the slot is
 *   kept, unused, until it goes stale; if EC2 throttles, it is given back. Either way the step waits: a quota or
 *   a throttle is never a failure.
 * - **Order.** Copies of a target go in generation order: while an older generation of the target is still
 *   copying to the Region, this one waits, so each copy finds its predecessor in the Region and EBS copies only
 *   the changed blocks (the same KMS key per Region, from the copy rule, keeps them incremental).
 * - **Idempotence.** Copies are tagged with the generation and their source at creation; a step that finds one
 *   of its copies already in the Region (a worker died before recording it) adopts it instead of copying again.
 */
export async function copyStep(deps: CopyDeps, message: CopyMessage): Promise<CopyStep> {
  const { generationId, region } = message;
  const done = (state?: CopyRecord['state'], lagSeconds?: number): CopyStep => ({
    outcome: 'done',
    generationId,
    region,
    state,
    ...(lagSeconds === undefined ? {} : { lagSeconds }),
  });
  const wait = (reason: string, seconds: number, progressed = false): CopyStep => ({
    outcome: 'wait',
    generationId,
    region,
    reason,
    progressed,
    retryAfterSeconds: Math.min(MAX_COPY_DELAY_SECONDS, Math.round(seconds * (0.75 + 0.5 * random(deps)))),
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
  const older = progress.waiting().length > 0 ? await olderCopyInFlight(generation, region, deps) : undefined;
  // Behind an older copy the wait is longer: that copy takes minutes at least, and polling it costs messages.
  const blocked = older
    ? {
        reason: `older generation ${older} of ${generation.target.id} is still copying to ${region}`,
        seconds: 300,
      }
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
    return done(next.state, next !== copy && next.state === 'completed' ? next.lagSeconds : undefined);
  }
  const progressed = next !== copy;
  if (blocked) return wait(blocked.reason, blocked.seconds, progressed);
  // Everything started is copying: look again in proportion to how long it has taken so far, between 30 s and
  // 2 min, so a slot is freed soon after its copy completes without polling a long copy every 30 s. Measured by
  // test/bench/copy.bench.ts: slots are freed 45 s (mean) after EC2 finishes, about 40 describes per copy.
  const elapsed = (deps.clock.now().getTime() - Date.parse(next.startedAt ?? next.queuedAt)) / 1000;
  return wait('copies in progress', Math.min(120, Math.max(30, elapsed / 16)), progressed);
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
        const delay = Math.min(step.retryAfterSeconds, options.maxDelaySeconds ?? MAX_COPY_DELAY_SECONDS);
        await deps.copyQueue.send([message], delay);
        deps.log.debug('copy waits', { ...message, reason: step.reason, retryAfterSeconds: delay });
      }
      result.steps.push(step);
    } catch (error) {
      deps.log.error('copy step failed', { ...message, error });
      result.failed.push({ id, error: describeError(error) });
    }
  }
  return result;
}
