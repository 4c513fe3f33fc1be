import type { Catalog } from '#core/model/catalog.ts';
import { describeError } from '#core/model/errors.ts';
import type { Consistency, Generation } from '#core/model/generation.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import type { HeldClaim } from './claim.ts';
import type { Held } from './held-claims.ts';
import type { Problem } from './selection.ts';

/** What a run reports for each target, and the results of the targets it made no backup of. */

export type TargetOutcome =
  /** This delivery made the generation. */
  | 'created'
  /** An earlier delivery of the same run already made it. */
  | 'existing'
  /** An earlier delivery crashed after creating snapshots; this one recorded them. */
  | 'adopted'
  /**
   * Another delivery's claim held the generation, recording nothing, until the run could wait no longer: this run
   * made no backup of the target. A failed target: the invocation fails, and a delivery after the lease takes it.
   */
  | 'missed'
  | 'failed';

export interface TargetResult {
  generationId: string;
  targetId: string;
  outcome: TargetOutcome;
  state: Generation['state'];
  snapshotIds: string[];
  failure?: string;
  /** The consistency recorded, when a generation was made. */
  consistency?: Consistency;
  /** Why the freeze did not cover this generation (it was taken crash-consistent instead). */
  freezeFailure?: string;
  /** How long writes were frozen for this generation's snapshots, when a freeze covered them. */
  freezeWindowMs?: number;
  /** Thaws that could not be confirmed; the on-instance watchdog bounds them. Reported as a failure of the run. */
  thawProblems?: string[];
  /** Planned volumes that were not in the snapshot set after all. */
  drift?: Problem[];
  /** The claim that held the generation, for a `missed` target. */
  claim?: HeldClaim;
}

/** Whether a target counts as failed in the run: it failed, or it was missed. */
export function isFailedTarget(result: TargetResult): boolean {
  return result.outcome === 'failed' || result.outcome === 'missed';
}

/** What the results of unbacked targets write and log through. */
export interface ResultDeps {
  catalog: Catalog;
  clock: Clock;
  log: Log;
}

/**
 * The claim's write failed, or its answer was lost after it was written. Its failure is recorded when the record is
 * this run's claim (a redelivery may then take the target again); when even that fails, the run's report carries it.
 */
export async function claimFailed(
  generation: Generation,
  error: unknown,
  deps: ResultDeps,
): Promise<TargetResult> {
  const failure = `the generation could not be claimed in the catalog: ${describeError(error)}`;
  deps.log.error('generation not claimed', {
    generationId: generation.id,
    targetId: generation.target.id,
    failure,
  });
  await onClaim(
    generation.id,
    generation.claimedAt,
    () => deps.catalog.recordFailure(generation.id, failure),
    'failure not recorded',
    deps,
  );
  return unbacked(generation.id, generation.target.id, 'failed', failure);
}

/** A target whose backup threw past its own handling: reported failed, its record left as it stands. */
export function unfinished(
  generationId: string,
  targetId: string,
  error: unknown,
  deps: ResultDeps,
): TargetResult {
  const failure = describeError(error);
  deps.log.error('target not backed up', { generationId, targetId, failure });
  return unbacked(generationId, targetId, 'failed', failure);
}

/**
 * A target still held when the run could wait no longer: reported missed, with the claim that held it, and noted on
 * the generation while that claim holds it with nothing recorded (its holder, if alive, records its own outcome over
 * the note).
 */
export async function missed(held: Held, deps: ResultDeps): Promise<TargetResult> {
  const { generationId, targetId, claim } = held;
  const failure = `missed: another delivery's claim (claimed at ${claim.claimedAt}, its lease ends at ${claim.leaseEndsAt}) held this generation with nothing recorded past this run's wait; this run made no backup of ${targetId}. A delivery of the run after ${claim.leaseEndsAt} takes it again`;
  deps.log.error('target missed', { generationId, targetId, ...claim });
  const note = `${deps.clock.now().toISOString()}: a delivery of the run ${failure}`;
  await onClaim(
    generationId,
    claim.claimedAt,
    (current) => deps.catalog.update({ ...current, notes: [...(current.notes ?? []), note] }, ['notes']),
    'missed target not noted',
    deps,
  );
  return { ...unbacked(generationId, targetId, 'missed', failure), state: 'pending', claim };
}

function unbacked(
  generationId: string,
  targetId: string,
  outcome: 'failed' | 'missed',
  failure: string,
): TargetResult {
  return { generationId, targetId, outcome, state: 'failed', snapshotIds: [], failure };
}

/**
 * Writes to the generation only while it is still the claim made at `claimedAt` with nothing recorded: a record
 * another delivery wrote, completed or took over is theirs. A write that fails is logged as `unwritten`: the run's
 * report still carries what it would have said.
 */
async function onClaim(
  generationId: string,
  claimedAt: string,
  write: (current: Generation) => Promise<void>,
  unwritten: string,
  deps: ResultDeps,
): Promise<void> {
  try {
    const current = await deps.catalog.get(generationId);
    if (
      current?.claimedAt === claimedAt &&
      current.state === 'pending' &&
      current.snapshots.length === 0 &&
      current.amiId === undefined
    ) {
      await write(current);
    }
  } catch (error) {
    deps.log.error(unwritten, { generationId, error: describeError(error) });
  }
}
