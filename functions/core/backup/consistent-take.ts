import type { ConsistencyRule } from '#core/config/config.ts';
import { CreateFailedError, describeError, FreezeSkippedError } from '#core/model/errors.ts';
import type { Consistency } from '#core/model/generation.ts';
import {
  confirmThaws,
  type FreezeDeps,
  type FreezeRule,
  type Frozen,
  freezeAll,
  freezeIdOf,
  sendThaw,
  THAW_RESERVE_MS,
  type ThawSent,
} from './freeze.ts';
import { frozenConsistency, volumesFrozen } from './freeze-report.ts';
import type { CreatedSnapshot, ImageSnapshot } from './ports.ts';
import type { PlannedTarget } from './selection.ts';

/** What the create calls of one instance (or one volume) made. */
export interface MemberCreated {
  snapshots: CreatedSnapshot[];
  amiId?: string;
  /** The snapshots behind the AMI, by device; they are recorded with the AMI id. */
  imageSnapshots?: ImageSnapshot[];
}

export interface MemberTaken {
  planned: PlannedTarget;
  created: MemberCreated;
  /** Per source volume: what this member's volumes really are. */
  consistency: Map<string, Consistency>;
}

/** One consistent take of a target or a group: every member's creates inside one freeze window. */
export interface Take {
  members: MemberTaken[];
  /** When the create calls were made: the point in time of the generation. */
  takenAt: string;
  /** From the first freeze sent to the last thaw sent, when a freeze was sent. */
  freezeWindowMs?: number;
  /** Why no freeze covers this take, when one was asked for. */
  freezeFailure?: string;
  /** Thaws that could not be confirmed: reported, and bounded by the watchdog. */
  thawProblems: string[];
  /** Members recorded crash-consistent although frozen, and why (their freeze had ended before their thaw). */
  freezeNotes?: string[];
  /** Why some members' create calls failed; `members` holds what the others made, so nothing is lost. */
  failed?: CreateFailedError;
}

const idOf = (member: PlannedTarget) => member.instance?.instanceId ?? member.target.id;
const allOf = (member: PlannedTarget, consistency: Consistency) =>
  new Map(member.volumes.map((v) => [v.volumeId, consistency]));

/**
 * Freezes the running members (a lone instance is a group of one), runs `create` for every member once all are
 * frozen, and thaws each member the moment its own create call returns: the snapshot is point-in-time at the
 * call, and since no thaw is sent before every member is frozen, there is an instant at which all members were
 * frozen together, which is the group's consistent cut. Every path that sent a freeze sends the thaws.
 */
export async function takeConsistent(
  members: readonly PlannedTarget[],
  rule: ConsistencyRule,
  create: (member: PlannedTarget) => Promise<MemberCreated>,
  deps: FreezeDeps,
  generationId: string,
): Promise<Take> {
  const now = () => deps.clock.now().getTime();
  const running = members.filter((m) => m.instance?.state === 'running');
  if (rule.mode === 'crash' || running.length === 0) {
    if (rule.mode !== 'crash') deps.log.info('nothing running to freeze', { instanceIds: members.map(idOf) });
    return crashTake(members, create, deps);
  }
  const freezeRule: FreezeRule = {
    mode: rule.mode,
    timeoutSeconds: rule.timeoutSeconds,
    document: rule.document,
    freezeId: freezeIdOf(generationId, now()),
  };
  const freeze = await freezeAll(
    running.flatMap((m) => (m.instance ? [m.instance] : [])),
    freezeRule,
    deps,
  );
  if (!freeze.frozen) {
    const reason = freeze.error.message;
    const window = windowOf(
      freeze.sent.map((s) => s.sentAtMs),
      freeze.thaws,
    );
    deps.log.warn('freeze failed', { instanceIds: running.map(idOf), reason, onFailure: rule.onFailure });
    if (rule.onFailure === 'skip')
      throw new FreezeSkippedError(`freeze failed, generation skipped (onFailure: skip): ${reason}`, {
        cause: freeze.error,
      });
    const take = await crashTake(members, create, deps);
    if (take.failed) return take;
    const { problems } = await confirmThaws(freeze.thaws, instancesOf(members), freezeRule, deps);
    return { ...take, freezeFailure: reason, freezeWindowMs: window, thawProblems: problems };
  }

  const frozen = new Map(freeze.members.map((f) => [f.instance.instanceId, f]));
  const thaws = new Map<string, Promise<ThawSent>>();
  const thaw = (id: string) => {
    const member = frozen.get(id);
    if (member && !thaws.has(id)) thaws.set(id, sendThaw(member.instance, freezeRule, deps));
  };
  // The Lambda nearing its own end thaws everything still frozen, even with a create call in flight.
  const stop = new AbortController();
  const remaining = deps.deadline.remainingMs();
  const nearing = Number.isFinite(remaining)
    ? deps.timer.sleep(Math.max(0, remaining - THAW_RESERVE_MS), stop.signal).then(() => {
        if (stop.signal.aborted) return;
        deps.log.warn('Lambda nearing its timeout; thawing now', { instanceIds: [...frozen.keys()] });
        for (const id of frozen.keys()) thaw(id);
      })
    : Promise.resolve();
  const takenAt = deps.clock.now().toISOString();
  const returnedAt = new Map<string, number>();
  const settled = await Promise.allSettled(
    members.map(async (member) => {
      try {
        return await create(member);
      } finally {
        returnedAt.set(idOf(member), now());
        thaw(idOf(member));
      }
    }),
  );
  stop.abort();
  await nearing;
  const sentThaws = await Promise.all(thaws.values());
  const thawAt = new Map(sentThaws.map((t) => [t.instanceId, t.sentAtMs]));
  const freezeWindowMs = windowOf(
    freeze.members.map((f) => f.sentAtMs),
    sentThaws,
  );
  deps.log.info('thaw sent', { instanceIds: [...thawAt.keys()], freezeWindowMs });

  // The set is consistent only if every frozen member's create returned before its thaw left and before its
  // watchdog could have fired (timeoutSeconds after the freeze was sent, at the earliest).
  const held = [...frozen.values()].every((f) => {
    const returned = returnedAt.get(f.instance.instanceId) ?? Number.POSITIVE_INFINITY;
    return (
      returned <= (thawAt.get(f.instance.instanceId) ?? 0) &&
      returned - f.sentAtMs < rule.timeoutSeconds * 1000
    );
  });
  if (!held) deps.log.warn('freeze did not cover the create calls; recording crash', { freezeWindowMs });
  const thawed = await confirmThaws(sentThaws, instancesOf(members), freezeRule, deps);
  // A thaw that found its freeze already ended (by its watchdog, or gone) proves the freeze did not hold until
  // the create call returned, whatever the timing says: those members are crash-consistent.
  const ended = [...frozen.values()].filter((f) => {
    const outcome = thawed.outcomes.get(f.instance.instanceId);
    return outcome !== undefined && outcome !== 'held';
  });
  const freezeNotes = ended.map(
    (f) =>
      `${f.instance.instanceId}: its freeze had ended before the thaw came (${
        thawed.outcomes.get(f.instance.instanceId) === 'watchdog'
          ? 'the watchdog thawed it'
          : 'no freeze held'
      }); recorded crash-consistent`,
  );
  if (ended.length > 0) deps.log.warn('freeze ended before its thaw; recording crash', { freezeNotes });
  const taken: MemberTaken[] = [];
  const failures: string[] = [];
  settled.forEach((result, i) => {
    const planned = members[i] as PlannedTarget;
    if (result.status === 'rejected') failures.push(`${idOf(planned)}: ${describeError(result.reason)}`);
    else
      taken.push({
        planned,
        created: result.value,
        consistency: memberConsistency(planned, frozen.get(idOf(planned)), held && ended.length === 0, rule),
      });
  });
  const take: Take = {
    members: taken,
    takenAt,
    freezeWindowMs,
    thawProblems: thawed.problems,
    ...(freezeNotes.length > 0 ? { freezeNotes } : {}),
  };
  if (failures.length === 0) return take;
  const first = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  const message = `create failed after a successful freeze (thaw sent): ${failures.join('; ')}`;
  return { ...take, failed: new CreateFailedError(message, { cause: first.reason }) };
}

function memberConsistency(
  planned: PlannedTarget,
  frozen: Frozen | undefined,
  held: boolean,
  rule: ConsistencyRule,
): Map<string, Consistency> {
  if (!frozen || !held || rule.mode === 'crash') return allOf(planned, 'crash');
  const windows = frozen.instance.platform?.toLowerCase() === 'windows';
  const consistency = frozenConsistency(rule.mode, windows);
  if (rule.mode === 'script' || windows) return allOf(planned, consistency);
  // fsfreeze covers only the filesystems the document reports; every other volume is crash-consistent.
  const covered = volumesFrozen(frozen.output, frozen.instance) ?? new Set<string>();
  return new Map(planned.volumes.map((v) => [v.volumeId, covered.has(v.volumeId) ? consistency : 'crash']));
}

async function crashTake(
  members: readonly PlannedTarget[],
  create: (member: PlannedTarget) => Promise<MemberCreated>,
  deps: FreezeDeps,
): Promise<Take> {
  const takenAt = deps.clock.now().toISOString();
  const settled = await Promise.allSettled(members.map(create));
  const taken: MemberTaken[] = [];
  const failures: string[] = [];
  settled.forEach((result, i) => {
    const planned = members[i] as PlannedTarget;
    if (result.status === 'rejected') failures.push(`${idOf(planned)}: ${describeError(result.reason)}`);
    else taken.push({ planned, created: result.value, consistency: allOf(planned, 'crash') });
  });
  const take: Take = { members: taken, takenAt, thawProblems: [] };
  if (failures.length === 0) return take;
  const first = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  // A lone target's failure reads as before: its own error message.
  const message =
    members.length === 1 ? describeError(first.reason) : `create failed: ${failures.join('; ')}`;
  return { ...take, failed: new CreateFailedError(message, { cause: first.reason }) };
}

function windowOf(freezesSentAt: readonly number[], thaws: readonly ThawSent[]): number | undefined {
  if (freezesSentAt.length === 0 || thaws.length === 0) return undefined;
  return Math.max(...thaws.map((t) => t.sentAtMs)) - Math.min(...freezesSentAt);
}

function instancesOf(members: readonly PlannedTarget[]) {
  return new Map(members.flatMap((m) => (m.instance ? [[m.instance.instanceId, m.instance] as const] : [])));
}
