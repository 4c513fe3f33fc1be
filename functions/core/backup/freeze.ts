import { describeError, FreezeFailedError } from '#core/model/errors.ts';
import type { Clock, Deadline, Log, Timer } from '#core/model/ports.ts';
import { type ThawOutcome, thawOutcome } from './freeze-report.ts';
import type { AgentCommand, FreezeAgent, InstanceInfo } from './ports.ts';

/**
 * The freeze and thaw state machine, over SSM. A freeze is `sent → acknowledged | failed | timed out`; every
 * path that sent a freeze ends by sending a thaw. The on-instance watchdog (armed by the freeze itself) is the
 * backstop when even the thaw cannot be delivered.
 */

/** Invocation time kept back to send the thaws: below this, the orchestrator thaws whatever it is doing. */
export const THAW_RESERVE_MS = 5_000;
/** Between two `GetCommandInvocation` rounds; SSM answers in tens of milliseconds, agents in hundreds. */
export const POLL_INTERVAL_MS = 200;
const THAW_SEND_ATTEMPTS = 3;

export interface FreezeRule {
  mode: 'filesystem' | 'script';
  timeoutSeconds: number;
  document?: string;
  /** Names this freeze on every instance; its thaws carry it too, so they thaw this freeze only. */
  freezeId: string;
}

/** A freeze id for one take of a generation: the generation id and the take's start time. A retaken generation
 * (after a crash or a redelivery) is a new freeze, whose thaw cannot end the old one's, nor the old one's its. */
export function freezeIdOf(generationId: string, startedAtMs: number): string {
  return `${generationId}-${startedAtMs.toString(36)}`;
}

export interface FreezeDeps {
  agent: FreezeAgent;
  clock: Clock;
  timer: Timer;
  deadline: Deadline;
  log: Log;
}

/** The part of its `timeoutSeconds` a freeze may take to be acknowledged; the rest is for the create calls. */
export function ackBudgetMs(rule: FreezeRule): number {
  return (rule.timeoutSeconds * 1000) / 2;
}

export interface SentFreeze {
  instance: InstanceInfo;
  sentAtMs: number;
  commandId?: string;
}

export interface Frozen extends SentFreeze {
  commandId: string;
  ackedAtMs: number;
  output: string;
}

export interface ThawSent {
  instanceId: string;
  sentAtMs: number;
  commandId?: string;
  /** Why no thaw could be sent after every attempt. */
  error?: string;
}

export type FreezeResult =
  | { frozen: true; members: Frozen[] }
  | { frozen: false; error: FreezeFailedError; sent: SentFreeze[]; thaws: ThawSent[] };

const isWindows = (instance: InstanceInfo) => instance.platform?.toLowerCase() === 'windows';

function command(instance: InstanceInfo, action: AgentCommand['action'], rule: FreezeRule, notAfter: string) {
  return {
    instanceId: instance.instanceId,
    action,
    freezeId: rule.freezeId,
    mode: rule.mode,
    windows: isWindows(instance),
    scriptDocument: rule.document,
    timeoutSeconds: rule.timeoutSeconds,
    notAfter,
  } satisfies AgentCommand;
}

/**
 * Freezes every instance in parallel and resolves once all acknowledged, or as soon as one failed, the ack
 * budget ran out, or the invocation nears its end. On any failure every instance sent a freeze is thawed
 * before this returns: there is never a half-frozen set left behind.
 */
export async function freezeAll(
  instances: readonly InstanceInfo[],
  rule: FreezeRule,
  deps: FreezeDeps,
): Promise<FreezeResult> {
  const fail = async (message: string, sent: SentFreeze[], cause?: unknown): Promise<FreezeResult> => {
    const error = new FreezeFailedError(message, { cause });
    const thaws = await Promise.all(sent.map((s) => sendThaw(s.instance, rule, deps)));
    return { frozen: false, error, sent, thaws };
  };
  const needed = rule.timeoutSeconds * 1000 + THAW_RESERVE_MS;
  const remaining = deps.deadline.remainingMs();
  if (remaining < needed) {
    return fail(
      `only ${remaining} ms of invocation time left; a freeze needs ${needed} ms to thaw safely`,
      [],
    );
  }
  const ids = instances.map((i) => i.instanceId);
  let online: Set<string>;
  try {
    online = await deps.agent.onlineAgents(ids);
  } catch (error) {
    return fail(`could not check the SSM agents: ${describeError(error)}`, [], error);
  }
  const offline = ids.filter((id) => !online.has(id));
  if (offline.length > 0) {
    return fail(`no SSM agent online on ${offline.join(', ')}; the filesystem cannot be frozen`, []);
  }

  const firstSentMs = deps.clock.now().getTime();
  const notAfter = new Date(firstSentMs + ackBudgetMs(rule)).toISOString();
  const sent = await Promise.all(
    instances.map(async (instance): Promise<SentFreeze & { error?: unknown }> => {
      const sentAtMs = deps.clock.now().getTime();
      try {
        return {
          instance,
          sentAtMs,
          commandId: await deps.agent.send(command(instance, 'freeze', rule, notAfter)),
        };
      } catch (error) {
        return { instance, sentAtMs, error };
      }
    }),
  );
  const unsent = sent.find((s) => s.commandId === undefined);
  // A send that failed may still have reached SSM (a lost response), so every member is thawed, not only the sent.
  if (unsent)
    return fail(
      `freeze not sent to ${unsent.instance.instanceId}: ${describeError(unsent.error)}`,
      sent,
      unsent.error,
    );
  deps.log.info('freeze sent', { instanceIds: ids, notAfter });

  const acked = await awaitAcks(sent as (SentFreeze & { commandId: string })[], rule, deps, firstSentMs);
  if (acked instanceof FreezeFailedError) return fail(acked.message, sent, acked);
  return { frozen: true, members: acked };
}

async function awaitAcks(
  sent: (SentFreeze & { commandId: string })[],
  rule: FreezeRule,
  deps: FreezeDeps,
  firstSentMs: number,
): Promise<Frozen[] | FreezeFailedError> {
  const pending = new Map(sent.map((s) => [s.instance.instanceId, s]));
  const lastSeen = new Map<string, string>();
  const acked: Frozen[] = [];
  for (;;) {
    const rounds = await Promise.all(
      [...pending.values()].map(async (s) => {
        try {
          return { s, status: await deps.agent.status(s.commandId, s.instance.instanceId) };
        } catch (error) {
          // A status call that errs says nothing about the freeze; the budget bounds how long that may last.
          lastSeen.set(s.instance.instanceId, describeError(error));
          return { s, status: { state: 'pending' as const } };
        }
      }),
    );
    const now = deps.clock.now().getTime();
    for (const { s, status } of rounds) {
      if (status.state === 'failed') {
        return new FreezeFailedError(`freeze failed on ${s.instance.instanceId}: ${status.reason}`);
      }
      if (status.state === 'succeeded') {
        pending.delete(s.instance.instanceId);
        acked.push({ ...s, ackedAtMs: now, output: status.output });
      }
    }
    if (pending.size === 0) return acked;
    if (now - firstSentMs >= ackBudgetMs(rule)) {
      const waiting = [...pending.keys()].map((id) =>
        lastSeen.has(id) ? `${id} (${lastSeen.get(id)})` : id,
      );
      return new FreezeFailedError(
        `freeze not acknowledged within ${ackBudgetMs(rule)} ms (half of timeoutSeconds) by ${waiting.join(', ')}`,
      );
    }
    if (deps.deadline.remainingMs() < THAW_RESERVE_MS) {
      return new FreezeFailedError('the Lambda is nearing its timeout; freeze abandoned and thawed');
    }
    await deps.timer.sleep(POLL_INTERVAL_MS);
  }
}

/** Sends one thaw, retrying a failed send; `sentAtMs` is when the first attempt left, the end of the window. */
export async function sendThaw(
  instance: InstanceInfo,
  rule: FreezeRule,
  deps: FreezeDeps,
): Promise<ThawSent> {
  const sentAtMs = deps.clock.now().getTime();
  const notAfter = new Date(sentAtMs + rule.timeoutSeconds * 1000).toISOString();
  let lastError: unknown;
  for (let attempt = 1; attempt <= THAW_SEND_ATTEMPTS; attempt++) {
    try {
      const commandId = await deps.agent.send(command(instance, 'thaw', rule, notAfter));
      return { instanceId: instance.instanceId, sentAtMs, commandId };
    } catch (error) {
      lastError = error;
      deps.log.warn('thaw not sent; retrying', {
        instanceId: instance.instanceId,
        attempt,
        error,
      });
      if (attempt < THAW_SEND_ATTEMPTS) await deps.timer.sleep(100 * 2 ** attempt);
    }
  }
  deps.log.error('thaw failed', { instanceId: instance.instanceId, error: lastError });
  return { instanceId: instance.instanceId, sentAtMs, error: describeError(lastError) };
}

/** What waiting for the thaws found: lines for thaws not confirmed, and what each confirmed thaw reported. */
export interface ThawsConfirmed {
  problems: string[];
  /** By instance: what the Linux document's thaw found of its freeze (absent for other documents). */
  outcomes: Map<string, ThawOutcome>;
}

/**
 * Waits until each thaw ran, resending one that failed once. Bounded by `timeoutSeconds`: past that the
 * watchdog has thawed anyway. Returns a line per instance whose thaw could not be confirmed.
 */
export async function confirmThaws(
  thaws: readonly ThawSent[],
  instances: ReadonlyMap<string, InstanceInfo>,
  rule: FreezeRule,
  deps: FreezeDeps,
): Promise<ThawsConfirmed> {
  const horizon = deps.clock.now().getTime() + rule.timeoutSeconds * 1000;
  const problems: string[] = [];
  const outcomes = new Map<string, ThawOutcome>();
  await Promise.all(
    thaws.map(async (first) => {
      let thaw = first;
      for (let resent = 0; ; ) {
        if (!thaw.commandId) {
          problems.push(`${thaw.instanceId}: thaw not sent (${thaw.error}); the watchdog thaws it`);
          return;
        }
        const status = await deps.agent
          .status(thaw.commandId, thaw.instanceId)
          .catch(() => ({ state: 'pending' as const }));
        if (status.state === 'succeeded') {
          const outcome = thawOutcome(status.output);
          if (outcome) outcomes.set(thaw.instanceId, outcome);
          return;
        }
        const instance = instances.get(thaw.instanceId);
        if (status.state === 'failed' && resent === 0 && instance) {
          deps.log.warn('thaw failed; resending', { instanceId: thaw.instanceId, reason: status.reason });
          resent += 1;
          thaw = await sendThaw(instance, rule, deps);
          continue;
        }
        if (status.state === 'failed' || deps.clock.now().getTime() >= horizon) {
          const why = status.state === 'failed' ? status.reason : 'not confirmed in time';
          deps.log.error('thaw failed', { instanceId: thaw.instanceId, reason: why });
          problems.push(`${thaw.instanceId}: thaw ${why}; the watchdog thaws it`);
          return;
        }
        await deps.timer.sleep(POLL_INTERVAL_MS);
      }
    }),
  );
  return { problems, outcomes };
}
