import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { createScheduledRunHandler } from '#handlers/scheduled-run.ts';
import { catalogFor } from '#wiring';
import type { Faults } from '../harness/faults.ts';
import type { AgentBehaviour } from '../harness/ssm-faults.ts';
import { agentWorld, positions } from '../support/agent-world.ts';
import { anInstance, type SeededInstance } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { metricsRecorder } from '../support/metrics.ts';
import { latestOccurrence } from '../support/occurrence.ts';

// Freezes, groups and AMIs against the emulator, with SSM agents played through the fault seam (the emulator
// runs no command and always answers Success). Real adapters, real catalog, real SDK retries.

const HOURLY = { name: 'daily', expression: 'cron(0 * * * ? *)', keep: { count: 3 } };
const policy = (name: string, consistency: object, extra: object = {}) => ({
  name,
  targets: 'instances',
  schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 3 } }],
  consistency,
  ...extra,
});
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'consistency-catalog' },
  policies: [
    policy('fs', { mode: 'filesystem', timeoutSeconds: 4, onFailure: 'crash' }),
    policy('strict', { mode: 'filesystem', timeoutSeconds: 4, onFailure: 'skip' }),
    policy('group', { mode: 'filesystem', timeoutSeconds: 4, onFailure: 'crash' }),
    // Hourly: the real handler takes only an occurrence recent enough for a delivery's retries.
    policy('late', { mode: 'filesystem', timeoutSeconds: 1, onFailure: 'crash' }, { schedules: [HOURLY] }),
    {
      ...policy('image', { mode: 'filesystem', timeoutSeconds: 4 }),
      schedules: [
        {
          name: 'daily',
          expression: 'cron(0 3 * * ? *)',
          keep: { count: 3 },
          ami: true,
          deprecateAfterDays: 30,
        },
      ],
    },
  ],
});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());
const AT = '2026-11-20T03:00:00.000Z';

/** A world whose agents behave as told per instance, with every call recorded by the fault seam. */
function world(behaviour: (instanceId: string) => AgentBehaviour, setup?: (faults: Faults) => void) {
  const built = agentWorld(config, behaviour, setup);
  return { ...built, run: (name: string) => built.run(name, AT) };
}

const tagged = (name: string, extra: Record<string, string> = {}, dataVolumes = 1) =>
  anInstance(ec2, { tags: { 'snapkeeper:policy': name, ...extra }, dataVolumes });

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('a filesystem freeze that works', () => {
  let web: SeededInstance;
  beforeAll(async () => {
    web = await tagged('fs');
  });

  it('freezes, snapshots inside the freeze, thaws as soon as the create returns, and records filesystem', async () => {
    const { run, faults, agents } = world(
      () => ({ runMs: 150, frozenVolumes: web.dataVolumeIds }),
      (f) => f.latency('CreateSnapshots', 120),
    );
    const report = await run('fs');
    expect(report.results[0]).toMatchObject({ outcome: 'created' });

    // InvocationDoesNotExist right after SendCommand was met and waited out.
    expect(faults.count('GetCommandInvocation', 'failed')).toBeGreaterThan(0);
    const [freeze] = positions(faults, 'SendCommand', 'Freeze');
    const [create] = positions(faults, 'CreateSnapshots');
    const [thaw] = positions(faults, 'SendCommand', 'Thaw');
    expect(freeze).toBeLessThan(create ?? -1);
    expect(create).toBeLessThan(thaw ?? -1);
    // The thaw names the freeze it ends: the generation's id and this take's attempt.
    const freezeIds = faults.calls
      .filter((c) => c.action === 'SendCommand')
      .map((c) => (c.input.Parameters as Record<string, string[]>).FreezeId?.[0]);
    expect(freezeIds).toEqual([expect.stringMatching(/^gen-[0-9T]+-[0-9a-f]+-[0-9a-z]+$/), freezeIds[0]]);
    expect(agents.frozenAt(Date.now())).toEqual([]);
    expect(agents.count('thawed', web.instanceId)).toBe(1);

    const [generation] = await catalog.byTarget(web.instanceId);
    const byVolume = Object.fromEntries(generation?.snapshots.map((s) => [s.volumeId, s.consistency]) ?? []);
    // The data volume's filesystem was reported frozen; the boot volume's was not, so it is crash-consistent.
    expect(byVolume).toEqual({ [web.dataVolumeIds[0] ?? '']: 'filesystem', [web.bootVolumeId]: 'crash' });
    expect(generation?.consistency).toBe('crash');
    // The window spans the freeze, the create call (>= 120 ms) and the thaw send.
    expect(generation?.freezeWindowMs).toBeGreaterThanOrEqual(120);
    expect(generation?.freezeWindowMs).toBeLessThan(4000);
  });
});

describe('freeze failures', () => {
  it('a freeze never acknowledged times out, is thawed, and the generation is taken crash (onFailure crash)', async () => {
    const instance = await tagged('fs', { Name: 'hangs' }, 0);
    const { run, faults, agents } = world((id) => (id === instance.instanceId ? { freeze: 'hang' } : {}));
    const started = Date.now();
    const report = await run('fs');
    const result = report.results.find((r) => r.targetId === instance.instanceId);
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(result?.freezeFailure).toMatch(/not acknowledged within 2000 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(positions(faults, 'SendCommand', 'Thaw').length).toBeGreaterThan(0);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    const [generation] = await catalog.byTarget(instance.instanceId);
    expect(generation).toMatchObject({ consistency: 'crash' });
    expect(generation?.state).not.toBe('failed');
  });

  it('a failed freeze with onFailure skip records a failed generation with the reason, and still thaws', async () => {
    const instance = await tagged('strict');
    const { run, agents, faults } = world(() => ({ freeze: 'failed' }));
    const report = await run('strict');
    expect(report.results[0]).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(report.results[0]?.failure).toMatch(
      /onFailure: skip.*freeze failed on i-.*fsfreeze: Operation not supported/,
    );
    expect(faults.count('CreateSnapshots')).toBe(0);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    const [generation] = await catalog.byTarget(instance.instanceId);
    expect(generation).toMatchObject({ state: 'failed', consistency: 'failed', snapshots: [] });
  });

  it('an instance without a registered agent is never sent a freeze and follows onFailure', async () => {
    const instance = await tagged('strict', { Name: 'no-agent' }, 0);
    const { run, faults } = world(() => ({ online: false }));
    const report = await run('strict');
    const result = report.results.find((r) => r.targetId === instance.instanceId);
    expect(result?.failure).toMatch(/no SSM agent online on i-/);
    expect(faults.count('SendCommand')).toBe(0);
  });

  it('a create call that fails after a successful freeze still sends the thaw, and the generation fails', async () => {
    const instance = await tagged('fs', { Name: 'create-fails' }, 0);
    const { run, faults, agents } = world(
      () => ({}),
      (f) => f.fail('CreateSnapshots', { name: 'InternalError', message: 'boom' }),
    );
    const report = await run('fs');
    const result = report.results.find((r) => r.targetId === instance.instanceId);
    expect(result).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(result?.failure).toMatch(/InternalError/);
    const [create] = positions(faults, 'CreateSnapshots');
    expect(positions(faults, 'SendCommand', 'Thaw').every((thaw) => thaw > (create ?? 0))).toBe(true);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
    expect(agents.frozenAt(Date.now())).toEqual([]);
  });

  it('a Lambda nearing its timeout thaws while the create call is still in flight, and records crash', async () => {
    const instance = await tagged('late');
    const { faults, agents, deps, clients } = world(
      () => ({ frozenVolumes: [instance.bootVolumeId, ...instance.dataVolumeIds] }),
      (f) => f.latency('CreateSnapshots', 4000),
    );
    const handler = createScheduledRunHandler(() => deps, { clients, sink: metricsRecorder().sink });
    // timeoutSeconds 1 + the 5 s thaw reserve fit in 8 s, with 2 s for the run to reach the freeze on a loaded
    // machine (with 0.5 s it sometimes found too little time left, froze nothing and sent no thaw); the 4 s
    // create call then runs into the reserve. The real handler believes only a time its schedule fired at lately.
    const report = await handler(
      { policy: 'late', schedule: 'daily', scheduledAt: latestOccurrence(HOURLY.expression) },
      lambdaContext('late', 8000),
    );
    expect(report.results[0]).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(agents.count('freeze-sent', instance.instanceId)).toBe(1);
    const thaw = faults.calls.find(
      (c) => c.action === 'SendCommand' && JSON.stringify(c.input).includes('Thaw'),
    );
    const create = faults.calls.find((c) => c.action === 'CreateSnapshots');
    expect(thaw).toBeDefined();
    expect(create).toBeDefined();
    // The thaw left while the create call (4 s) was in flight.
    expect((thaw?.at ?? 0) - (create?.at ?? 0)).toBeGreaterThanOrEqual(0);
    expect((thaw?.at ?? 0) - (create?.at ?? 0)).toBeLessThan(4000);
    expect(agents.count('thaw-sent', instance.instanceId)).toBe(1);
  });
});

describe('a consistency group', () => {
  let a: SeededInstance;
  let b: SeededInstance;
  beforeAll(async () => {
    a = await tagged('group', { 'snapkeeper:group': 'orders' });
    b = await tagged('group', { 'snapkeeper:group': 'orders' });
  });

  it('freezes all members, snapshots each once all are frozen, thaws them, and records one group generation', async () => {
    const { run, faults, agents } = world((id) => ({
      runMs: id === a.instanceId ? 50 : 300,
      frozenVolumes: id === a.instanceId ? a.dataVolumeIds : b.dataVolumeIds,
    }));
    const report = await run('group');
    expect(report.results).toEqual([
      expect.objectContaining({ targetId: 'group:orders', outcome: 'created' }),
    ]);
    const frozenAt = Math.max(...agents.events.filter((e) => e.event === 'frozen').map((e) => e.at));
    const creates = faults.calls.filter((c) => c.action === 'CreateSnapshots');
    expect(creates).toHaveLength(2);
    // No create call before the last member froze; no thaw before every create call.
    for (const create of creates) expect(create.at).toBeGreaterThanOrEqual(frozenAt);
    const [lastCreate] = positions(faults, 'CreateSnapshots').slice(-1);
    expect(
      positions(faults, 'SendCommand', 'Thaw').every(
        (t) => t > (positions(faults, 'CreateSnapshots')[0] ?? 0),
      ),
    ).toBe(true);
    expect(lastCreate).toBeDefined();

    const [generation] = await catalog.byTarget(a.instanceId);
    expect(generation?.target).toEqual({
      kind: 'group',
      id: 'group:orders',
      members: expect.arrayContaining([a.instanceId, b.instanceId]),
    });
    expect((await catalog.byTarget(b.instanceId))[0]?.id).toBe(generation?.id);
    expect(new Set(generation?.snapshots.map((s) => s.instanceId))).toEqual(
      new Set([a.instanceId, b.instanceId]),
    );
    const data = generation?.snapshots.filter((s) =>
      [...a.dataVolumeIds, ...b.dataVolumeIds].includes(s.volumeId),
    );
    expect(data?.map((s) => s.consistency)).toEqual(['filesystem', 'filesystem']);
    expect(generation?.freezeWindowMs).toBeGreaterThanOrEqual(300);
  });

  it('follows onFailure as a whole when one member fails to freeze: no half-frozen group recorded consistent', async () => {
    const { faults, agents, deps } = world((id) =>
      id === b.instanceId ? { freeze: 'failed' } : { frozenVolumes: a.dataVolumeIds },
    );
    const report = await runSchedule(
      { policy: 'group', schedule: 'daily', scheduledAt: '2026-11-21T03:00:00.000Z' },
      deps,
    );
    expect(report.results[0]).toMatchObject({ outcome: 'created', consistency: 'crash' });
    expect(report.results[0]?.freezeFailure).toMatch(new RegExp(`freeze failed on ${b.instanceId}`));
    // Both members were thawed, the one that froze included, before the crash-consistent creates.
    expect(agents.count('thaw-sent', a.instanceId)).toBe(1);
    expect(agents.count('thaw-sent', b.instanceId)).toBe(1);
    const thaws = positions(faults, 'SendCommand', 'Thaw');
    expect(positions(faults, 'CreateSnapshots').every((c) => c > Math.max(...thaws))).toBe(true);
    const generation = await catalog.get(report.results[0]?.generationId ?? '');
    expect(generation?.snapshots.every((s) => s.consistency === 'crash')).toBe(true);
  });
});

describe('an AMI schedule', () => {
  it('images the boot volume inside the freeze, tags image and snapshots at creation, and deprecates it', async () => {
    const instance = await tagged('image', {}, 2);
    const { run, faults } = world(() => ({ frozenVolumes: instance.dataVolumeIds }));
    const report = await run('image');
    expect(report.results[0]).toMatchObject({ outcome: 'created' });

    const sent = faults.calls.find((c) => c.action === 'CreateImage')?.input ?? {};
    expect(sent).toMatchObject({ InstanceId: instance.instanceId, NoReboot: true });
    expect((sent.TagSpecifications as { ResourceType: string }[]).map((t) => t.ResourceType)).toEqual([
      'image',
      'snapshot',
    ]);
    expect((sent.BlockDeviceMappings as { DeviceName: string }[]).length).toBe(2);
    const [freeze] = positions(faults, 'SendCommand', 'Freeze');
    const [image] = positions(faults, 'CreateImage');
    const [thaw] = positions(faults, 'SendCommand', 'Thaw');
    expect(freeze).toBeLessThan(image ?? -1);
    expect(image).toBeLessThan(thaw ?? -1);
    expect(faults.calls.find((c) => c.action === 'EnableImageDeprecation')?.input.DeprecateAt).toBeInstanceOf(
      Date,
    );

    const generation = await catalog.get(report.results[0]?.generationId ?? '');
    expect(generation?.amiId).toMatch(/^ami-/);
    const boot = generation?.snapshots.find((s) => s.volumeId === instance.bootVolumeId);
    expect(boot?.amiId).toBe(generation?.amiId);
    expect(
      generation?.snapshots
        .filter((s) => s.amiId === undefined)
        .map((s) => s.volumeId)
        .sort(),
    ).toEqual([...instance.dataVolumeIds].sort());
    const images = await ec2.send(new DescribeImagesCommand({ ImageIds: [generation?.amiId ?? ''] }));
    expect(images.Images?.[0]?.Tags).toEqual(
      expect.arrayContaining([{ Key: 'snapkeeper:managed', Value: 'true' }]),
    );
  });
});
