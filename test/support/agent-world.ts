import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { runSchedule } from '#core/backup/run.ts';
import type { Config } from '#core/config/config.ts';
import { runDeps } from '#wiring';
import { type Faults, faults as newFaults } from '../harness/faults.ts';
import { type AgentBehaviour, SimulatedAgents } from '../harness/ssm-faults.ts';

/**
 * Real adapters against the emulator, with SSM agents that behave as told per instance (the emulator runs no
 * command and always answers Success) and every call recorded by the fault seam.
 */
export function agentWorld(
  config: Config,
  behaviour: (instanceId: string) => AgentBehaviour,
  setup?: (faults: Faults) => void,
  options: { maxAttempts?: number } = {},
) {
  const faults = newFaults({ seed: 3 });
  const agents = new SimulatedAgents(behaviour);
  for (const rule of agents.rules()) faults.use(rule);
  setup?.(faults);
  const clients = new AwsClients({
    middleware: [faults.pluggable()],
    maxAttempts: options.maxAttempts ?? 2,
  });
  const deps = runDeps({ config, clients, log: consoleLog(() => {}) });
  const run = (policy: string, scheduledAt: string) =>
    runSchedule({ policy, schedule: 'daily', scheduledAt }, deps);
  return { faults, agents, deps, clients, run };
}

/** Positions of calls in the order the fault seam saw them; `verb` narrows SendCommand to Freeze, Thaw, …. */
export const positions = (faults: Faults, action: string, verb?: string) =>
  faults.calls.flatMap((c, i) =>
    c.action === action && (!verb || JSON.stringify(c.input.Parameters ?? {}).includes(verb)) ? [i] : [],
  );
