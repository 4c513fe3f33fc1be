import { EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { WINDOWS_VSS_DOCUMENT } from '#adapters/ssm.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { parseConfig } from '#core/config/config.ts';
import { catalogFor } from '#wiring';
import type { Faults, Shape } from '../harness/faults.ts';
import type { AgentBehaviour } from '../harness/ssm-faults.ts';
import { agentWorld, positions } from '../support/agent-world.ts';
import { anInstance } from '../support/fleet.ts';

// `script` mode and Windows VSS against the emulator: the exact SSM documents and parameters sent (read back from
// the fault seam's call record), the consistency recorded, and the thaw on every path. Agents are played through
// the fault seam, as the emulator runs no command.

const DOCUMENT = 'acme-quiesce-postgres';
const policy = (name: string, consistency: object) => ({
  name,
  targets: 'instances',
  schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 3 } }],
  consistency: { timeoutSeconds: 4, ...consistency },
});
const script = (onFailure: string) => ({ mode: 'script', document: DOCUMENT, onFailure });
const vss = (onFailure: string) => ({ mode: 'filesystem', onFailure });
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'freeze-modes-catalog' },
  policies: [
    policy('script', script('crash')),
    policy('script-fails', script('crash')),
    policy('script-skip', script('skip')),
    policy('script-create-fails', script('crash')),
    policy('vss', vss('crash')),
    policy('vss-fails', vss('crash')),
    policy('vss-skip', vss('skip')),
    policy('vss-create-fails', vss('crash')),
  ],
});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());
const AT = '2026-11-20T03:00:00.000Z';

/** What each SendCommand asked for, in order. */
const commands = (faults: Faults) =>
  faults.calls
    .filter((c) => c.action === 'SendCommand')
    .map((c) => ({
      DocumentName: c.input.DocumentName,
      InstanceIds: c.input.InstanceIds,
      Parameters: c.input.Parameters,
    }));

/** Runs one policy over one fresh instance tagged for it; `windows` makes the emulator report it as Windows. */
async function runOne(
  name: string,
  options: { behaviour?: AgentBehaviour; windows?: boolean; setup?: (faults: Faults) => void } = {},
) {
  const instance = await anInstance(ec2, { tags: { 'snapkeeper:policy': name }, dataVolumes: 1 });
  const built = agentWorld(
    config,
    () => options.behaviour ?? {},
    (faults) => {
      // The emulator takes an instance's platform from its AMI, and the harness loads none of AWS's Windows
      // AMIs; the fault seam reports the instance as Windows, as DescribeInstances does on AWS.
      if (options.windows)
        faults.transform('DescribeInstances', (output) => asWindows(output, instance.instanceId));
      options.setup?.(faults);
    },
  );
  const report = await built.run(name, AT);
  const result = report.results.find((r) => r.targetId === instance.instanceId);
  const generation = result && (await catalog.get(result.generationId));
  return { ...built, instance, result, generation };
}

function asWindows(output: Shape, instanceId: string): Shape {
  const reservations = (output.Reservations ?? []) as { Instances?: Shape[] }[];
  for (const reservation of reservations)
    for (const instance of reservation.Instances ?? [])
      if (instance.InstanceId === instanceId) instance.Platform = 'windows';
  return output;
}

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('script mode', () => {
  it("sends the user's document with command=pre-script, snapshots, then command=post-script, and records application", async () => {
    const { faults, agents, instance, result, generation } = await runOne('script', {
      behaviour: { runMs: 100 },
      setup: (f) => f.latency('CreateSnapshots', 100),
    });
    expect(result).toMatchObject({ outcome: 'created', consistency: 'application' });
    expect(commands(faults)).toEqual([
      { DocumentName: DOCUMENT, InstanceIds: [instance.instanceId], Parameters: { command: ['pre-script'] } },
      {
        DocumentName: DOCUMENT,
        InstanceIds: [instance.instanceId],
        Parameters: { command: ['post-script'] },
      },
    ]);
    const [pre] = positions(faults, 'SendCommand', 'pre-script');
    const [create] = positions(faults, 'CreateSnapshots');
    const [post] = positions(faults, 'SendCommand', 'post-script');
    expect(pre).toBeLessThan(create ?? -1);
    expect(create).toBeLessThan(post ?? -1);
    expect(agents.count('thawed', instance.instanceId)).toBe(1);
    expect(agents.frozenAt(Date.now())).toEqual([]);
    expect(generation?.consistency).toBe('application');
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual(['application', 'application']);
    expect(generation?.freezeWindowMs).toBeGreaterThanOrEqual(100);
  });

  it('takes a crash-consistent generation when the pre-script fails (onFailure crash), after the post-script', async () => {
    const { faults, agents, instance, result, generation } = await runOne('script-fails', {
      behaviour: { freeze: 'failed' },
    });
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(result?.freezeFailure).toMatch(/freeze failed on i-/);
    const [post] = positions(faults, 'SendCommand', 'post-script');
    expect(positions(faults, 'CreateSnapshots').every((c) => c > (post ?? Number.POSITIVE_INFINITY))).toBe(
      true,
    );
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    expect(generation).toMatchObject({ state: 'pending', consistency: 'crash' });
    expect(generation?.notes).toEqual([expect.stringMatching(/^freeze failed; taken crash-consistent/)]);
  });

  it('records a failed generation with no snapshot when the pre-script fails (onFailure skip), and runs the post-script', async () => {
    const { faults, agents, instance, result, generation } = await runOne('script-skip', {
      behaviour: { freeze: 'failed' },
    });
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(/onFailure: skip/);
    expect(faults.count('CreateSnapshots')).toBe(0);
    expect(positions(faults, 'SendCommand', 'post-script')).toHaveLength(1);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    expect(generation).toMatchObject({ state: 'failed', consistency: 'failed', snapshots: [] });
  });

  it('runs the post-script after a create call that fails past the pre-script, and fails the generation', async () => {
    const { faults, agents, instance, result } = await runOne('script-create-fails', {
      setup: (f) => f.fail('CreateSnapshots', { name: 'InternalError', message: 'boom' }),
    });
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(/InternalError/);
    const [create] = positions(faults, 'CreateSnapshots');
    const [post] = positions(faults, 'SendCommand', 'post-script');
    expect(post).toBeGreaterThan(create ?? Number.POSITIVE_INFINITY);
    expect(agents.count('thawed', instance.instanceId)).toBe(1);
    expect(agents.frozenAt(Date.now())).toEqual([]);
  });
});

describe('Windows (VSS)', () => {
  it('freezes and thaws through AWSEC2-ManageVssIO around the create call, and records application', async () => {
    const { faults, agents, instance, result, generation } = await runOne('vss', {
      windows: true,
      setup: (f) => f.latency('CreateSnapshots', 100),
    });
    expect(result).toMatchObject({ outcome: 'created', consistency: 'application' });
    // Only `Action`: VSS ends a freeze after 10 s by itself, so no watchdog parameters go with it.
    expect(commands(faults)).toEqual([
      {
        DocumentName: WINDOWS_VSS_DOCUMENT,
        InstanceIds: [instance.instanceId],
        Parameters: { Action: ['Freeze'] },
      },
      {
        DocumentName: WINDOWS_VSS_DOCUMENT,
        InstanceIds: [instance.instanceId],
        Parameters: { Action: ['Thaw'] },
      },
    ]);
    const [freeze] = positions(faults, 'SendCommand', 'Freeze');
    const [create] = positions(faults, 'CreateSnapshots');
    const [thaw] = positions(faults, 'SendCommand', 'Thaw');
    expect(freeze).toBeLessThan(create ?? -1);
    expect(create).toBeLessThan(thaw ?? -1);
    expect(agents.count('thawed', instance.instanceId)).toBe(1);
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual(['application', 'application']);
  });

  it('takes a crash-consistent generation when the VSS freeze fails (onFailure crash), and still thaws', async () => {
    const { faults, agents, instance, result, generation } = await runOne('vss-fails', {
      windows: true,
      behaviour: { freeze: 'failed' },
    });
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(positions(faults, 'SendCommand', 'Thaw')).toHaveLength(1);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    expect(generation?.snapshots.every((s) => s.consistency === 'crash')).toBe(true);
  });

  it('records a failed generation when the VSS freeze fails (onFailure skip), and still thaws', async () => {
    const { faults, agents, instance, result } = await runOne('vss-skip', {
      windows: true,
      behaviour: { freeze: 'failed' },
    });
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(faults.count('CreateSnapshots')).toBe(0);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
  });

  it('sends the VSS thaw after a create call that fails past the freeze, and fails the generation', async () => {
    const { faults, agents, instance, result } = await runOne('vss-create-fails', {
      windows: true,
      setup: (f) => f.fail('CreateSnapshots', { name: 'InternalError', message: 'boom' }),
    });
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    const [create] = positions(faults, 'CreateSnapshots');
    const [thaw] = positions(faults, 'SendCommand', 'Thaw');
    expect(thaw).toBeGreaterThan(create ?? Number.POSITIVE_INFINITY);
    expect(agents.count('thawed', instance.instanceId)).toBe(1);
    expect(agents.frozenAt(Date.now())).toEqual([]);
  });
});
