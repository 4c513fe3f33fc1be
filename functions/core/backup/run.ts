import { z } from 'zod';
import { type Config, findSchedule, type Policy, type ScheduleRule } from '#core/config/config.ts';
import type { CopyQueue } from '#core/copies/ports.ts';
import { queueCopies } from '#core/copies/queue.ts';
import type { Catalog, ClaimResult } from '#core/model/catalog.ts';
import { mapLimit } from '#core/model/concurrency.ts';
import { describeError, OutcomeSupersededError } from '#core/model/errors.ts';
import { type Generation, generationId, type Target } from '#core/model/generation.ts';
import type { MarkKey } from '#core/model/mark.ts';
import type { Clock, Deadline, Log, Timer } from '#core/model/ports.ts';
import { adoptedGeneration, findAdoptable, rejectionNotes } from './adoption.ts';
import { claimIsLive, heldClaim } from './claim.ts';
import { type Take, takeConsistent } from './consistent-take.ts';
import type { FreezeDeps } from './freeze.ts';
import { awaitHeldClaims, type Held } from './held-claims.ts';
import { finishImages, memberCreator } from './member-create.ts';
import type { Account, FreezeAgent, ImageService, Inventory, SnapshotService } from './ports.ts';
import {
  claimFailed,
  isFailedTarget,
  missed,
  type TargetOutcome,
  type TargetResult,
  unfinished,
} from './results.ts';
import { type PlannedTarget, type Problem, type Selection, selectTargets } from './selection.ts';
import { drift, fromTake, notesOf } from './take-record.ts';

/**
 * One firing of one schedule of one policy (SPEC §2 "Run"): what each EventBridge Scheduler schedule sends, with
 * `scheduledAt` its `<aws.scheduler.scheduled-time>`. The scheduled-run Lambda parses its event with it, once.
 */
export const RunRequestSchema = z.strictObject({
  policy: z.string().min(1),
  schedule: z.string().min(1),
  /** The identity of the run, so a redelivery is recognised: any ISO-8601 offset, kept as UTC ISO. */
  scheduledAt: z.iso.datetime({ offset: true }).transform((t) => new Date(t).toISOString()),
});

export type RunRequest = z.output<typeof RunRequestSchema>;

export interface RunDeps {
  config: Config;
  inventory: Inventory;
  snapshots: SnapshotService;
  catalog: Catalog;
  /** The account, which what a run adopts must belong to. */
  account: Account;
  clock: Clock;
  log: Log;
  /** The key every snapshot and AMI is marked with at creation (`core/model/mark.ts`). */
  markKey: MarkKey;
  /** Targets worked on at once inside this invocation. */
  concurrency?: number;
  /** SSM, for `filesystem` and `script` consistency; without it every freeze fails (and `onFailure` applies). */
  freezeAgent?: FreezeAgent;
  /** EC2 images, for `ami` schedules. */
  images?: ImageService;
  /** How the freeze state machine waits between polls. */
  timer?: Timer;
  /** The invocation's remaining time (a Lambda's); unlimited when absent. */
  deadline?: Deadline;
  /** Where a completed generation's DR copies are queued; needed when the config copies anywhere. */
  copyQueue?: CopyQueue;
  /**
   * How long the run may wait for claims other deliveries hold on its targets (`held-claims.ts`); default: as long
   * as the deadline allows.
   */
  maxClaimWaitMs?: number;
}

export interface RunReport extends RunRequest {
  results: TargetResult[];
  problems: Problem[];
}

/** Runs one schedule of one policy: select, claim, snapshot, record. Idempotent per (policy, schedule, scheduledAt). */
export async function runSchedule(request: RunRequest, deps: RunDeps): Promise<RunReport> {
  const { policy, schedule } = findSchedule(deps.config, request.policy, request.schedule);
  const idOf = (target: Target) =>
    generationId(request.policy, request.schedule, request.scheduledAt, target);
  return runSelected(
    { request, policy, rule: schedule, idOf },
    await selectTargets(policy, deps.inventory),
    deps,
  );
}

/** What a run backs up under: its request, the policy and rule it names, and each target's generation id. */
export interface RunPlan {
  request: RunRequest;
  policy: Policy;
  rule: ScheduleRule;
  /** The same for every delivery of the run: the catalog's claim on it makes a redelivery one generation. */
  idOf: (target: Target) => string;
}

/**
 * Backs up the selected targets of a run: claim, snapshot (through the policy's consistency), record. The one take
 * path of scheduled and on-demand backups.
 */
export async function runSelected(plan: RunPlan, selection: Selection, deps: RunDeps): Promise<RunReport> {
  const { request } = plan;
  deps.log.info('run started', {
    ...request,
    targets: selection.targets.length,
    problems: selection.problems.length,
  });
  for (const problem of selection.problems) deps.log.warn('tag problem', { ...problem });

  // A target that throws must not reject the whole map: its report would be lost, the targets still queued behind
  // it never started, and the others' results with it. Each target ends with a result, failed at worst.
  const take = (planned: PlannedTarget) =>
    backUpTarget(plan, planned, selection.problems, deps).catch((error: unknown) =>
      unfinished(plan.idOf(planned.target), planned.target.id, error, deps),
    );
  const first = await mapLimit(selection.targets, deps.concurrency ?? 8, take);
  // Targets another delivery held are waited for once the others are done, so a wait holds no worker.
  const held = first.filter(isHeld);
  const settled = await awaitHeldClaims(held, (h) => take(h.planned), deps);
  const after = new Map(held.map((h, i) => [h, settled[i]]));
  const results = await Promise.all(
    first.map((r) => {
      const outcome = isHeld(r) ? (after.get(r) ?? r) : r;
      return isHeld(outcome) ? missed(outcome, deps) : outcome;
    }),
  );
  // Drift found while snapshotting (a volume detached since planning) is reported with the tag problems.
  const problems = [...selection.problems, ...results.flatMap((r) => r.drift ?? [])];
  const failed = results.filter(isFailedTarget).length;
  deps.log.info('run finished', { ...request, results: results.length, failed });
  return { ...request, results, problems };
}

/** A target met while another delivery's live claim holds its generation: the run waits on it. */
interface HeldTarget extends Held {
  planned: PlannedTarget;
}

function isHeld(result: TargetResult | HeldTarget): result is HeldTarget {
  return result.outcome === 'held';
}

async function backUpTarget(
  { request, policy, rule, idOf }: RunPlan,
  planned: PlannedTarget,
  problems: readonly Problem[],
  deps: RunDeps,
): Promise<TargetResult | HeldTarget> {
  const id = idOf(planned.target);
  let generation: Generation = {
    id,
    policy: request.policy,
    schedule: request.schedule,
    target: planned.target,
    scheduledAt: request.scheduledAt,
    claimedAt: deps.clock.now().toISOString(),
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  };
  const result = (
    outcome: TargetOutcome,
    g: Generation,
    extra: Partial<TargetResult> = {},
  ): TargetResult => ({
    generationId: id,
    targetId: planned.target.id,
    outcome,
    state: g.state,
    snapshotIds: g.snapshots.map((s) => s.snapshotId),
    ...(g.failure ? { failure: g.failure } : {}),
    ...extra,
  });

  let claim: ClaimResult;
  try {
    claim = await deps.catalog.claim(generation);
  } catch (error) {
    return claimFailed(generation, error, deps);
  }
  let resumedNotes: string[] = [];
  if (!claim.claimed) {
    // An on-demand request's id does not carry its time: a redelivery keeps the time the first delivery claimed.
    generation = { ...generation, scheduledAt: claim.existing.scheduledAt };
    const resumed = await resumeExisting(claim.existing, generation, planned, rule, deps);
    if (resumed.outcome === 'held') {
      const { id: generationId, target } = resumed.generation;
      return {
        outcome: 'held',
        generationId,
        targetId: target.id,
        claim: heldClaim(resumed.generation),
        planned,
      };
    }
    if (resumed.outcome !== 'retake') return result(resumed.outcome, resumed.generation);
    resumedNotes = resumed.notes;
  }

  let take: Take | undefined;
  try {
    take = await takeConsistent(
      planned.members ?? [planned],
      policy.consistency,
      memberCreator(generation, policy.tags, rule, deps),
      freezeDeps(deps),
      id,
    );
    if (take.failed) throw take.failed;
    await finishImages(take, rule, deps);
  } catch (error) {
    // The claim stays in the catalog as a failed generation with its reason: nothing is lost or hidden. Members
    // whose create calls succeeded are recorded with it, so their snapshots are never orphaned.
    const failure = describeError(error);
    deps.log.error('generation failed', { generationId: id, targetId: planned.target.id, error });
    const partly = take?.failed === error ? take : undefined;
    if (partly && partly.members.length > 0) {
      const partial = { ...fromTake(generation, partly, deps.config.region), state: 'failed' as const };
      const notes = [...resumedNotes, ...notesOf(planned, problems, partly)];
      const failed = {
        ...partial,
        consistency: 'failed' as const,
        failure,
        ...(notes.length > 0 ? { notes } : {}),
      };
      await deps.catalog.recordOutcome(failed);
      return result('failed', failed, { thawProblems: partly.thawProblems });
    }
    await deps.catalog.recordFailure(id, failure);
    return result('failed', { ...generation, state: 'failed', failure });
  }
  const drifted = drift(planned, take);
  const notes = [...resumedNotes, ...notesOf(planned, [...problems, ...drifted], take)];
  const recorded: Generation = {
    ...fromTake(generation, take, deps.config.region),
    ...(notes.length > 0 ? { notes } : {}),
  };
  const snapshotIds = recorded.snapshots.map((s) => s.snapshotId);
  const extra: Partial<TargetResult> = {
    consistency: recorded.consistency,
    ...(recorded.freezeWindowMs === undefined ? {} : { freezeWindowMs: recorded.freezeWindowMs }),
    ...(take.freezeFailure ? { freezeFailure: take.freezeFailure } : {}),
    ...(take.thawProblems.length > 0 ? { thawProblems: take.thawProblems } : {}),
    drift: drifted,
  };
  try {
    await deps.catalog.recordOutcome(recorded);
  } catch (error) {
    if (error instanceof OutcomeSupersededError)
      return result('existing', await superseded(recorded, error, deps));
    // The snapshots exist and carry the generation id, so a redelivery of the run finds and adopts them.
    const failure = `snapshots ${snapshotIds.join(', ')} were created but not recorded (${describeError(error)}); a retry of the run records them`;
    deps.log.error('generation not recorded', {
      generationId: id,
      targetId: planned.target.id,
      snapshotIds,
      error,
    });
    return result('failed', { ...recorded, state: 'failed', failure }, extra);
  }
  deps.log.info('generation recorded', {
    generationId: id,
    targetId: planned.target.id,
    state: recorded.state,
    consistency: recorded.consistency,
    freezeWindowMs: recorded.freezeWindowMs,
    snapshotIds,
  });
  // Queued now for the shortest copy lag; if this fails, reconcile queues them.
  await queueCopies(deps, recorded);
  return result('created', recorded, extra);
}

/**
 * Another delivery's record won over this one's late outcome (it took the claim over, or completed the generation):
 * that record stands, and this delivery's own snapshots are left to reconcile, which finds them by tag.
 */
async function superseded(
  outcome: Generation,
  error: OutcomeSupersededError,
  deps: RunDeps,
): Promise<Generation> {
  deps.log.warn('outcome superseded', {
    generationId: outcome.id,
    snapshotIds: outcome.snapshots.map((s) => s.snapshotId),
    reason: error.message,
  });
  return (await deps.catalog.get(outcome.id)) ?? outcome;
}

type Resumption =
  | { outcome: 'existing' | 'adopted'; generation: Generation }
  /** Another delivery holds a live claim on it: the run waits for the claim to be recorded or to end. */
  | { outcome: 'held'; generation: Generation }
  /** Take the target again; `notes` tell of candidates that carried the generation's tags but were not adopted. */
  | { outcome: 'retake'; notes: string[] };

/** A redelivered run meets the generation an earlier delivery claimed. */
async function resumeExisting(
  existing: Generation,
  fresh: Generation,
  planned: PlannedTarget,
  rule: ScheduleRule,
  deps: RunDeps,
): Promise<Resumption> {
  if (existing.snapshots.length > 0 || existing.state === 'completed') {
    return { outcome: 'existing', generation: existing };
  }
  // A live claim's holder is still at work and records its own snapshots: adopting the ones it has made so far
  // would record part of its set, and a late write of that part could replace its complete record.
  if (claimIsLive(existing, deps.clock.now())) return { outcome: 'held', generation: existing };
  // Claimed but never recorded: the earlier delivery died between create and record, or failed. Snapshots and
  // AMIs are tagged with the generation id at creation, so work already done is found and adopted rather than
  // taken twice (a second CreateImage would fail anyway: the AMI name is the generation's).
  const adoptable = await findAdoptable(existing, planned, { ami: Boolean(rule.ami) }, deps);
  if (adoptable.take) {
    // The AMI's snapshots may not have been listed yet, and its deprecation never happened: finish both now.
    await finishImages(adoptable.take, rule, deps);
    const note =
      'adopted by a redelivery of the run: the delivery that took it stopped before recording it, so no freeze is known to have covered it';
    const adopted = adoptedGeneration(
      existing,
      { ...adoptable, take: adoptable.take },
      deps.config.region,
      note,
    );
    try {
      await deps.catalog.recordOutcome(adopted);
    } catch (error) {
      if (error instanceof OutcomeSupersededError) {
        return { outcome: 'existing', generation: await superseded(adopted, error, deps) };
      }
      throw error;
    }
    await queueCopies(deps, adopted);
    deps.log.warn('adopted snapshots of an interrupted run', {
      generationId: existing.id,
      snapshotIds: adopted.snapshots.map((s) => s.snapshotId),
      amiId: adopted.amiId,
    });
    return { outcome: 'adopted', generation: adopted };
  }
  // A failed generation holds no snapshot, and a dead claim's lease is over: this delivery takes the target again.
  if (!(await deps.catalog.takeOver(fresh, existing.claimedAt))) {
    // Another delivery took it over first: its claim is live now, and waited on like any other.
    return { outcome: 'held', generation: (await deps.catalog.get(existing.id)) ?? existing };
  }
  if (existing.state !== 'failed') {
    deps.log.warn('took over a stale claim', { generationId: existing.id, claimedAt: existing.claimedAt });
  }
  return { outcome: 'retake', notes: rejectionNotes(adoptable.rejected) };
}

/** The freeze ports, or an agent that reports none online when the run was built without one. */
function freezeDeps(deps: RunDeps): FreezeDeps {
  const noAgent: FreezeAgent = {
    onlineAgents: () => Promise.reject(new Error('this run was built without a freeze agent')),
    send: () => Promise.reject(new Error('no freeze agent')),
    status: () => Promise.reject(new Error('no freeze agent')),
  };
  return {
    agent: deps.freezeAgent ?? noAgent,
    clock: deps.clock,
    timer: deps.timer ?? { sleep: () => Promise.reject(new Error('this run was built without a timer')) },
    deadline: deps.deadline ?? { remainingMs: () => Number.POSITIVE_INFINITY },
    log: deps.log,
  };
}
