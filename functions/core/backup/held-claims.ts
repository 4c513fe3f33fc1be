import type { Catalog } from '#core/model/catalog.ts';
import { mapLimit } from '#core/model/concurrency.ts';
import { describeError } from '#core/model/errors.ts';
import type { Clock, Deadline, Log, Timer } from '#core/model/ports.ts';
import { CLAIM_LEASE_MS, claimIsLive, type HeldClaim, heldClaim } from './claim.ts';

/**
 * Targets whose generation another delivery of the run holds a live claim on (pending, nothing recorded, its lease
 * not over). Its holder may be at work, or may have died: nothing tells the two apart before the lease ends, and a
 * live claim is never taken over. So the run waits, after its other targets, looking at each claim again every
 * few seconds: a holder that records is seen (`existing`), and a claim whose lease ends is taken again through the
 * run's own path (adopted, or taken over and backed up). What the wait's bound leaves held is **missed**: a failed
 * target, so the invocation fails and the failed-run alarm fires, and its retry, after the lease, takes it.
 */

/** How often a waiting run looks at a held claim again: a live holder's record is seen this soon. */
export const CLAIM_POLL_MS = 5_000;

/** Invocation time kept back from the wait, for backing up what it retakes (a freeze, the create calls, the record). */
export const RETAKE_RESERVE_MS = 2 * 60_000;

/** A target the run met held: its generation and the claim that holds it. */
export interface Held {
  outcome: 'held';
  generationId: string;
  targetId: string;
  claim: HeldClaim;
}

export interface HeldClaimDeps {
  catalog: Catalog;
  clock: Clock;
  log: Log;
  /** Without a timer the run cannot wait: what it meets held is missed at once. */
  timer?: Timer;
  /** The invocation's remaining time; the wait ends `RETAKE_RESERVE_MS` before it. */
  deadline?: Deadline;
  /** A bound of the run's own on the wait (`snapkeeper run --claim-wait`); default: as long as the deadline allows. */
  maxClaimWaitMs?: number;
  concurrency?: number;
}

/**
 * Waits on the held targets until each is settled by `again` (the run's own take of that target, which meets the
 * record as it stands then) or the wait's bound is reached. In the input's order: what `again` returned, or the
 * target still held, which the run reports missed.
 */
export async function awaitHeldClaims<H extends Held, R>(
  held: readonly H[],
  again: (target: H) => Promise<R | H>,
  deps: HeldClaimDeps,
): Promise<(R | H)[]> {
  const outcomes: (R | H)[] = [...held];
  const waiting = () => held.flatMap((_, i) => (isHeld(outcomes[i]) ? [i] : []));
  const until = waitUntil(deps);
  if (held.length > 0) {
    deps.log.info('waiting for claims held by other deliveries', {
      generationIds: held.map((h) => h.generationId),
      until: Number.isFinite(until) ? new Date(until).toISOString() : 'each lease end',
    });
  }
  // However the clock behaves (one that stands still, in a replay), the run sleeps at most one lease in all: no
  // claim it met can be live for longer than that unless others keep taking it over.
  let slept = 0;
  for (let indices = waiting(), first = true; indices.length > 0; indices = waiting(), first = false) {
    const now = deps.clock.now().getTime();
    if (now >= until || slept >= CLAIM_LEASE_MS || !deps.timer) break;
    const leaseEnds = indices.map((i) => Date.parse((outcomes[i] as H).claim.leaseEndsAt));
    // A lease that ended while the run took its other targets is looked at at once; after that, one still held
    // past its lease end is one whose record could not be read, and waits for the next poll.
    const ended = leaseEnds.some((t) => t <= now);
    const wake =
      first && ended ? now : Math.min(until, now + CLAIM_POLL_MS, ...leaseEnds.filter((t) => t > now));
    if (wake > now) {
      await deps.timer.sleep(wake - now);
      slept += wake - now;
    }
    await mapLimit(indices, deps.concurrency ?? 8, async (i) => {
      outcomes[i] = await lookAgain(outcomes[i] as H, again, deps);
    });
  }
  return outcomes;
}

/** The held target as its record stands now: still held (its claim as it is now), or settled by the run's take. */
async function lookAgain<H extends Held, R>(
  target: H,
  again: (target: H) => Promise<R | H>,
  deps: HeldClaimDeps,
): Promise<R | H> {
  try {
    const current = await deps.catalog.get(target.generationId);
    if (current && claimIsLive(current, deps.clock.now())) return { ...target, claim: heldClaim(current) };
  } catch (error) {
    // A look that failed is tried again at the next poll; at the bound the target is missed, never guessed at.
    deps.log.warn('held claim not read', { generationId: target.generationId, error: describeError(error) });
    return target;
  }
  return again(target);
}

/** When the wait must end (epoch ms): the invocation's end less the reserve, or the run's own bound. */
function waitUntil(deps: HeldClaimDeps): number {
  const now = deps.clock.now().getTime();
  if (!deps.timer) return now;
  const byDeadline = deps.deadline
    ? deps.deadline.remainingMs() - RETAKE_RESERVE_MS
    : Number.POSITIVE_INFINITY;
  return now + Math.max(0, Math.min(byDeadline, deps.maxClaimWaitMs ?? Number.POSITIVE_INFINITY));
}

function isHeld(outcome: unknown): outcome is Held {
  return (outcome as Held | undefined)?.outcome === 'held';
}
