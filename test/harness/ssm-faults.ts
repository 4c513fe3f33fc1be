import type { CallContext, FaultRule, Millis, Shape } from './faults.ts';

/**
 * A simulated fleet of SSM agents through the fault seam. The emulator accepts every `SendCommand` and answers
 * `Success` at once without running anything, and does not implement `DescribeInstanceInformation`; these
 * rules give each instance an agent that behaves as real ones do: registered or not, a delivery delay during
 * which `GetCommandInvocation` says `InvocationDoesNotExist` then `InProgress`, and a freeze that succeeds,
 * fails or never finishes. The agent keeps a filesystem state (frozen or not, with an on-instance watchdog)
 * so tests can check that nothing is ever left frozen.
 */
export interface AgentBehaviour {
  /** Registered with SSM and `Online`. Default true. */
  online?: boolean;
  /** `GetCommandInvocation` calls answered `InvocationDoesNotExist` after each send. Default 1. */
  unregisteredPolls?: number;
  /** Time from send to the command finishing, on the fault clock. Default 0. */
  runMs?: Millis;
  /** What the freeze does. `hang` stays `InProgress` and never freezes. Default `success`. */
  freeze?: 'success' | 'failed' | 'hang';
  /** What a thaw does. `failed-once` fails the first thaw only. Default `success`. */
  thaw?: 'success' | 'failed' | 'failed-once';
  /** Volume ids the freeze report names as frozen (as NVMe serials). */
  frozenVolumes?: string[];
}

interface SentCommand {
  commandId: string;
  instanceId: string;
  action: 'freeze' | 'thaw';
  sentAt: number;
  runMs: number;
  polls: number;
  timeoutSeconds: number;
  /** Decided once, at the first poll after it ran. */
  outcome?: 'success' | 'failed' | 'hang';
  settled?: boolean;
}

export interface AgentEvent {
  instanceId: string;
  event: 'freeze-sent' | 'frozen' | 'thaw-sent' | 'thawed' | 'watchdog-thawed';
  at: number;
}

/** The agents' shared state and the rules that play them. */
export class SimulatedAgents {
  readonly events: AgentEvent[] = [];
  private readonly commands = new Map<string, SentCommand>();
  private readonly frozenSince = new Map<string, { at: number; timeoutSeconds: number }>();
  private readonly thawFailedOnce = new Set<string>();

  constructor(
    private readonly behaviour: (instanceId: string) => AgentBehaviour,
    private readonly random: () => number = Math.random,
  ) {}

  /** Instances whose filesystems are frozen at `now` (the watchdog having thawed any past their timeout). */
  frozenAt(now: number): string[] {
    for (const [id, since] of this.frozenSince) {
      if (now >= since.at + since.timeoutSeconds * 1000) {
        this.frozenSince.delete(id);
        this.events.push({
          instanceId: id,
          event: 'watchdog-thawed',
          at: since.at + since.timeoutSeconds * 1000,
        });
      }
    }
    return [...this.frozenSince.keys()];
  }

  count(event: AgentEvent['event'], instanceId?: string): number {
    return this.events.filter((e) => e.event === event && (!instanceId || e.instanceId === instanceId))
      .length;
  }

  rules(): FaultRule[] {
    return [
      {
        actions: ['DescribeInstanceInformation'],
        before: (call) => ({ output: this.describe(call.input) }),
      },
      { actions: ['SendCommand'], after: (output, call) => this.sent(output, call) },
      { actions: ['GetCommandInvocation'], before: (call) => this.invocation(call) },
    ];
  }

  private describe(input: Shape): Shape {
    const filters = (input.Filters ?? []) as { Key?: string; Values?: string[] }[];
    const ids = filters.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
    return {
      InstanceInformationList: ids
        .filter((id) => this.behaviour(id).online !== false)
        .map((InstanceId) => ({ InstanceId, PingStatus: 'Online', PlatformType: 'Linux' })),
    };
  }

  private sent(output: Shape, call: CallContext): Shape {
    const command = output.Command as { CommandId?: string } | undefined;
    const [instanceId = ''] = (call.input.InstanceIds ?? []) as string[];
    const parameters = (call.input.Parameters ?? {}) as Record<string, string[]>;
    const verb = parameters.Action?.[0] ?? parameters.command?.[0] ?? '';
    const action = verb === 'Freeze' || verb === 'pre-script' ? 'freeze' : 'thaw';
    const runMs = this.behaviour(instanceId).runMs ?? 0;
    this.commands.set(command?.CommandId ?? '', {
      commandId: command?.CommandId ?? '',
      instanceId,
      action,
      sentAt: call.now,
      runMs: typeof runMs === 'number' ? runMs : runMs.minMs + this.random() * (runMs.maxMs - runMs.minMs),
      polls: 0,
      timeoutSeconds: Number(parameters.TimeoutSeconds?.[0] ?? 10),
    });
    this.events.push({ instanceId, event: action === 'freeze' ? 'freeze-sent' : 'thaw-sent', at: call.now });
    return output;
  }

  private invocation(call: CallContext) {
    const command = this.commands.get(String(call.input.CommandId));
    if (!command) return undefined; // not one of ours: let the emulator answer
    const behaviour = this.behaviour(command.instanceId);
    command.polls += 1;
    if (command.polls <= (behaviour.unregisteredPolls ?? 1)) {
      return { error: { name: 'InvocationDoesNotExist', message: 'invocation does not exist yet' } };
    }
    const base = { CommandId: command.commandId, InstanceId: command.instanceId };
    if (call.now < command.sentAt + command.runMs) {
      return { output: { ...base, Status: 'InProgress', StatusDetails: 'InProgress' } };
    }
    command.outcome ??=
      command.action === 'freeze' ? (behaviour.freeze ?? 'success') : this.thawOutcome(command);
    const outcome = command.outcome;
    if (outcome === 'hang') {
      return { output: { ...base, Status: 'InProgress', StatusDetails: 'InProgress' } };
    }
    if (outcome === 'failed') {
      return {
        output: {
          ...base,
          Status: 'Failed',
          StatusDetails: 'Failed',
          StandardErrorContent: 'fsfreeze: Operation not supported',
        },
      };
    }
    this.settle(command, call.now);
    return {
      output: {
        ...base,
        Status: 'Success',
        StatusDetails: 'Success',
        StandardOutputContent: this.report(command, behaviour),
      },
    };
  }

  private thawOutcome(command: SentCommand): 'success' | 'failed' {
    const mode = this.behaviour(command.instanceId).thaw ?? 'success';
    if (mode !== 'failed-once') return mode;
    if (this.thawFailedOnce.has(command.instanceId)) return 'success';
    this.thawFailedOnce.add(command.instanceId);
    return 'failed';
  }

  private settle(command: SentCommand, now: number): void {
    if (command.settled) return;
    command.settled = true;
    const at = command.sentAt + command.runMs;
    this.frozenAt(now); // let the watchdog act first
    if (command.action === 'freeze') {
      this.frozenSince.set(command.instanceId, { at, timeoutSeconds: command.timeoutSeconds });
      this.events.push({ instanceId: command.instanceId, event: 'frozen', at });
    } else if (this.frozenSince.has(command.instanceId)) {
      this.frozenSince.delete(command.instanceId);
      this.events.push({ instanceId: command.instanceId, event: 'thawed', at: Math.max(at, now) });
    }
  }

  private report(command: SentCommand, behaviour: AgentBehaviour): string {
    if (command.action === 'thaw') return 'SNAPKEEPER_THAW_OK\n';
    const lines = (behaviour.frozenVolumes ?? []).map(
      (id, i) => `SNAPKEEPER_FROZEN /data${i} /dev/nvme${i + 1}n1 ${id.replace('-', '')}`,
    );
    return [...lines, 'SNAPKEEPER_FREEZE_OK', ''].join('\n');
  }
}
