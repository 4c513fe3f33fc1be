import type { Generation } from '#core/model/generation.ts';

/**
 * A claim older than this is presumed dead: no Lambda runs longer than 15 minutes, so its holder is gone and
 * another delivery may finish its work.
 */
export const CLAIM_LEASE_MS = 15 * 60 * 1000;

/**
 * How far EC2's clock and ours may disagree. A claim's create calls start after the claim by our clock; EC2 stamps
 * them by its own, so a snapshot stamped a little before the claim can still be the claim's.
 */
export const CLOCK_SKEW_MS = 2 * 60 * 1000;

/** When the create calls of a claim can have started (epoch ms): from the claim, less the skew, to its lease end. */
export interface ClaimWindow {
  from: number;
  to: number;
}

export function claimWindow(claimedAt: string): ClaimWindow {
  const at = Date.parse(claimedAt);
  return { from: at - CLOCK_SKEW_MS, to: at + CLAIM_LEASE_MS + CLOCK_SKEW_MS };
}

/** Whether the claim's holder may still be at work: nothing recorded, not failed, and the lease not over. */
export function claimIsLive(generation: Generation, now: Date): boolean {
  return (
    generation.state === 'pending' &&
    generation.snapshots.length === 0 &&
    generation.amiId === undefined &&
    now.getTime() - Date.parse(generation.claimedAt) < CLAIM_LEASE_MS
  );
}

/** When the claim's lease ends (epoch ms). */
export function leaseEnd(generation: Generation): number {
  return Date.parse(generation.claimedAt) + CLAIM_LEASE_MS;
}

/** Another delivery's claim, as a run's report names it: when it was claimed and when its lease ends (ISO). */
export interface HeldClaim {
  claimedAt: string;
  leaseEndsAt: string;
}

export function heldClaim(generation: Generation): HeldClaim {
  return {
    claimedAt: generation.claimedAt,
    leaseEndsAt: new Date(leaseEnd(generation)).toISOString(),
  };
}
