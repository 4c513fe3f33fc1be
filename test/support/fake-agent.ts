import type { AgentCommand, AgentCommandState, FreezeAgent } from '#core/backup/ports.ts';
import type { Deadline, Timer } from '#core/model/ports.ts';
import type { FakeClock } from './fakes.ts';

/** SSM agents in memory: each instance online or not, each command answering after `polls` status calls. */
export class FakeAgent implements FreezeAgent {
  readonly sent: (AgentCommand & { commandId: string; at: number })[] = [];
  offline = new Set<string>();
  /** Status calls before a command finishes (pending until then). */
  polls = 1;
  /** How a command ends, by action and instance; default succeeded with a report naming `frozen`. */
  outcome: (command: AgentCommand, attempt: number) => AgentCommandState = () => ({
    state: 'succeeded',
    output: '',
  });
  /** Sends that throw, by action. */
  failSends: Partial<Record<AgentCommand['action'], number>> = {};
  private readonly seen = new Map<string, number>();

  constructor(private readonly clock: FakeClock) {}

  async onlineAgents(instanceIds: readonly string[]): Promise<Set<string>> {
    await Promise.resolve();
    return new Set(instanceIds.filter((id) => !this.offline.has(id)));
  }

  async send(command: AgentCommand): Promise<string> {
    await Promise.resolve();
    if ((this.failSends[command.action] ?? 0) > 0) {
      this.failSends[command.action] = (this.failSends[command.action] ?? 0) - 1;
      throw new Error(`SendCommand ${command.action} failed`);
    }
    const commandId = `cmd-${this.sent.length + 1}`;
    this.sent.push({ ...command, commandId, at: this.clock.now().getTime() });
    return commandId;
  }

  async status(commandId: string): Promise<AgentCommandState> {
    await Promise.resolve();
    const count = (this.seen.get(commandId) ?? 0) + 1;
    this.seen.set(commandId, count);
    const command = this.sent.find((c) => c.commandId === commandId);
    if (!command || count <= this.polls) return { state: 'pending' };
    const attempt = this.sent
      .filter((c) => c.instanceId === command.instanceId && c.action === command.action)
      .indexOf(command);
    return this.outcome(command, attempt);
  }

  actions(instanceId?: string): string[] {
    return this.sent.filter((c) => !instanceId || c.instanceId === instanceId).map((c) => c.action);
  }
}

/** A timer on the fake clock: sleeping advances it, so a test of minutes runs in microseconds. */
export function fakeTimer(clock: FakeClock): Timer {
  return {
    sleep: async (ms, signal) => {
      await Promise.resolve();
      if (!signal?.aborted) clock.advance(ms);
    },
  };
}

/** A Lambda's remaining time on the fake clock. */
export function fakeDeadline(clock: FakeClock, remainingMs: number): Deadline {
  const end = clock.now().getTime() + remainingMs;
  return { remainingMs: () => end - clock.now().getTime() };
}
