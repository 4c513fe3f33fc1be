import { bench, describe } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { Ec2SnapshotService } from '#adapters/ec2/snapshots.ts';
import { SsmFreezeAgent } from '#adapters/ssm.ts';
import { takeConsistent } from '#core/backup/consistent-take.ts';
import type { InstanceInfo } from '#core/backup/ports.ts';
import type { PlannedTarget } from '#core/backup/selection.ts';
import type { Log } from '#core/model/ports.ts';
import { systemClock, systemTimer } from '#wiring';
import { mulberry32 } from '../harness/fault-primitives.ts';
import { faults as newFaults } from '../harness/faults.ts';
import { SimulatedAgents } from '../harness/ssm-faults.ts';

// 1,000 freezes through the real SSM and EC2 adapters and the real freeze state machine, with SSM and EC2
// answered by the fault seam at realistic latencies (no emulator: it would be the bottleneck, not the code).
// Prints the freeze window and the time from freeze acknowledged to thaw sent, against the create-call latency
// measured in the same run. Asserts nothing timed.

const FREEZES = 1_000;
const CONCURRENCY = 100;
const quiet: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const faults = newFaults({ seed: 42 });
// The agent takes 100-400 ms to run the freeze; SSM's API answers in 20-80 ms.
const agents = new SimulatedAgents(
  () => ({ runMs: { minMs: 100, maxMs: 400 }, frozenVolumes: [] }),
  mulberry32(7),
);
let commands = 0;
faults
  .latency(['SendCommand', 'GetCommandInvocation', 'DescribeInstanceInformation'], { minMs: 20, maxMs: 80 })
  .latency('CreateSnapshots', { minMs: 150, maxMs: 450 })
  .use({
    actions: ['DescribeInstanceInformation'],
    before: (call) => ({ output: instanceInformation(call.input) }),
  })
  .use({
    actions: ['SendCommand'],
    before: () => ({ output: { Command: { CommandId: `cmd-${++commands}` } } }),
  });
for (const rule of agents.rules())
  if (!rule.actions.includes('DescribeInstanceInformation')) faults.use(rule);
faults.respond('CreateSnapshots', (input) => ({
  Snapshots: [
    {
      SnapshotId: `snap-${String((input.InstanceSpecification as { InstanceId: string }).InstanceId)}`,
      VolumeId: 'vol-1',
      State: 'pending',
    },
  ],
}));

function instanceInformation(input: Record<string, unknown>) {
  const ids = ((input.Filters as { Values: string[] }[])[0]?.Values ?? []) as string[];
  return { InstanceInformationList: ids.map((InstanceId) => ({ InstanceId, PingStatus: 'Online' })) };
}

const clients = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 });
const agent = new SsmFreezeAgent(clients.ssm('us-east-1'));
const snapshots = new Ec2SnapshotService(clients.ec2('us-east-1'));

interface Sample {
  windowMs: number;
  ackToThawMs: number;
  createMs: number;
}

async function oneFreeze(i: number): Promise<Sample> {
  const instance: InstanceInfo = {
    instanceId: `i-${i.toString(16).padStart(17, '0')}`,
    state: 'running',
    tags: {},
    volumes: [],
  };
  const planned: PlannedTarget = {
    target: { kind: 'instance', id: instance.instanceId },
    instance,
    volumes: [],
    excluded: [],
  };
  let createStart = 0;
  let createEnd = 0;
  let ackedAt = 0;
  const timedAgent = {
    ...agent,
    onlineAgents: agent.onlineAgents.bind(agent),
    send: async (command: Parameters<typeof agent.send>[0]) => {
      if (command.action === 'thaw') thawSentAt = performance.now();
      return agent.send(command);
    },
    status: async (commandId: string, instanceId: string) => {
      const status = await agent.status(commandId, instanceId);
      if (status.state === 'succeeded' && !ackedAt) ackedAt = performance.now();
      return status;
    },
  };
  let thawSentAt = 0;
  const take = await takeConsistent(
    [planned],
    { mode: 'filesystem', timeoutSeconds: 10, onFailure: 'crash' },
    async () => {
      createStart = performance.now();
      const created = await snapshots.snapshotInstance({
        instanceId: instance.instanceId,
        excludeBootVolume: false,
        excludeVolumeIds: [],
        tags: {},
        copyVolumeTags: false,
        description: 'bench',
      });
      createEnd = performance.now();
      return { snapshots: created };
    },
    {
      agent: timedAgent,
      clock: systemClock,
      timer: systemTimer,
      deadline: { remainingMs: () => 900_000 },
      log: quiet,
    },
    `gen-bench-${i}`,
  );
  return {
    windowMs: take.freezeWindowMs ?? Number.NaN,
    ackToThawMs: thawSentAt - ackedAt,
    createMs: createEnd - createStart,
  };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

describe('freeze window', () => {
  bench(
    `${FREEZES} simulated freezes`,
    async () => {
      const samples: Sample[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < FREEZES) samples.push(await oneFreeze(next++));
        }),
      );
      const overhead = samples.map((s) => s.ackToThawMs - s.createMs);
      const row = (name: string, values: number[]) =>
        `  ${name.padEnd(44)} p50 ${percentile(values, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(values, 99).toFixed(1).padStart(7)} ms`;
      console.log(
        [
          `\nfreeze bench: ${samples.length} freezes, ${CONCURRENCY} at a time; agent 100-400 ms, SSM API 20-80 ms, CreateSnapshots 150-450 ms`,
          row(
            'freeze window (freeze sent -> thaw sent)',
            samples.map((s) => s.windowMs),
          ),
          row(
            'baseline: create call alone',
            samples.map((s) => s.createMs),
          ),
          row(
            'freeze acknowledged -> thaw sent',
            samples.map((s) => s.ackToThawMs),
          ),
          row('  of which beyond the create call', overhead),
          `  ack->thaw / create-call ratio: p50 ${(
            percentile(
              samples.map((s) => s.ackToThawMs),
              50,
            ) /
              percentile(
                samples.map((s) => s.createMs),
                50,
              )
          ).toFixed(3)}`,
          `  freezes whose ack->thaw exceeded create + 50 ms: ${overhead.filter((o) => o > 50).length} of ${samples.length}`,
        ].join('\n'),
      );
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
