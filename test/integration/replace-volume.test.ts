import { writeFileSync } from 'node:fs';
import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoRunbookJournal } from '#adapters/catalog/runbook-journal.ts';
import { AwsClients } from '#adapters/clients.ts';
import { tagsOf } from '#adapters/ec2/snapshots.ts';
import { consoleLog } from '#cli/console-log.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { RunbookFailedError, RunbookInProgressError } from '#core/model/errors.ts';
import type { ReplaceVolumeResult } from '#core/recovery/replace.ts';
import { ReplaceVolumeRequestSchema } from '#core/recovery/replace.ts';
import { RequestError } from '#core/recovery/request.ts';
import { automationParameters, automationPayload } from '#handlers/automation.ts';
import { createReplaceVolumeHandler } from '#handlers/replace-volume.ts';
import { reconcileDeps, replaceDeps, runDeps } from '#wiring';
import { Faults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { anInstance, aVolume, type SeededInstance } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';

// replace-volume through the real handler and CLI against the emulator: the swap itself, one swap per request id,
// a fault injected at each step through the fault layer leaving the instance exactly as it was, and bad input
// refused before anything changes.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'replace-catalog' },
  policies: [
    {
      name: 'daily',
      targets: 'instances',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-replace-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1', maxAttempts: 1 });
const clients = new AwsClients({ maxAttempts: 1 });
const log = consoleLog(() => {});
const TAKEN = new Date('2026-12-01T03:00:00Z');
const LATER = new Date('2026-12-01T09:00:00Z');
const clockAt = (now: Date) => ({ now: () => now });
const journal = new DynamoRunbookJournal(clients.dynamo('us-east-1'), 'replace-catalog');

let running: SeededInstance;
let stopped: SeededInstance;

/** The replace-volume Lambda, its AWS calls through `withClients` (a fault layer), its clock at LATER. */
function replaceHandler(withClients: AwsClients = clients) {
  const handler = createReplaceVolumeHandler(() =>
    replaceDeps({ config, clients: withClients, clock: clockAt(LATER), log }, 'integration-test'),
  );
  return (event: Record<string, unknown>) =>
    handler(event as never, lambdaContext('snapkeeper-replace-volume')) as Promise<ReplaceVolumeResult>;
}

/** What "exactly as before" means for an instance: its state, its devices and their volumes, every tag. */
async function pictureOf(instance: SeededInstance) {
  const found = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.instanceId] })))
    .Reservations?.[0]?.Instances?.[0];
  const volumes = (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
  const attachedHere = volumes.filter((v) =>
    v.Attachments?.some((a) => a.InstanceId === instance.instanceId),
  );
  return {
    state: found?.State?.Name,
    instanceTags: tagsOf(found?.Tags),
    devices: Object.fromEntries(
      attachedHere.map((v) => [
        v.Attachments?.find((a) => a.InstanceId === instance.instanceId)?.Device,
        v.VolumeId,
      ]),
    ),
    volumeTags: Object.fromEntries(attachedHere.map((v) => [v.VolumeId, tagsOf(v.Tags)])),
    volumeCount: volumes.length,
  };
}

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile, '--quiet'], clients)).status).toBe(0);
  const seed = {
    tags: { 'snapkeeper:policy': 'daily', Name: 'db' },
    volumeTags: [{ App: 'db', Team: 'data' }],
  };
  running = await anInstance(ec2, seed);
  stopped = await anInstance(ec2, seed);
  await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped.instanceId] }));
  await runSchedule(
    { policy: 'daily', schedule: 'daily', scheduledAt: TAKEN.toISOString() },
    runDeps({ config, clients, clock: clockAt(TAKEN), log }),
  );
  // Instance sets come back from CreateSnapshots as pending; a reconcile pass completes them.
  await reconcile(
    reconcileDeps({ config, clients, clock: clockAt(new Date(TAKEN.getTime() + 60_000)), log }),
  );
});

describe('replace-volume', () => {
  it('dry run: plans the swap and changes nothing', async () => {
    const before = await pictureOf(running);
    const plan = await replaceHandler()({ volumeId: running.dataVolumeIds[0], dryRun: true });
    expect(plan).toMatchObject({
      instanceId: running.instanceId,
      instanceState: 'running',
      device: '/dev/sdf',
      newVolumeId: null,
      dryRun: true,
      steps: ['create-volume', 'stop-instance', 'detach-old', 'attach-new', 'start-instance', 'tag-old'],
    });
    expect(await pictureOf(running)).toEqual(before);
  });

  it('runs from its SSM Automation document’s payload, and through the CLI with --json', async () => {
    const parameters = automationParameters(ReplaceVolumeRequestSchema, {}, 'requestId');
    const payload = automationPayload(parameters, 'requestId')
      .replace('{{ VolumeId }}', stopped.dataVolumeIds[0] as string)
      .replace('{{ DryRun }}', 'true')
      .replace('{{ automation:EXECUTION_ID }}', 'f7d6a0b2-0000-4000-8000-000000000001')
      .replace(/\{\{ \w+ \}\}/g, '');
    const planned = await replaceHandler()(JSON.parse(payload));
    expect(planned).toMatchObject({ dryRun: true, requestId: 'f7d6a0b2-0000-4000-8000-000000000001' });

    const current = stopped.dataVolumeIds[0] as string;
    const viaCli = await cli(
      ['replace-volume', '--volume', current, '--dry-run', '--json', '--config', configFile],
      clients,
    );
    expect(viaCli.status).toBe(0);
    expect(JSON.parse(viaCli.stdout)).toMatchObject({
      oldVolumeId: current,
      instanceState: 'stopped',
      dryRun: true,
    });
  });
  it.each([
    ['create-volume', 'CreateVolume'],
    ['stop-instance', 'StopInstances'],
    ['detach-old', 'DetachVolume'],
    ['attach-new', 'AttachVolume'],
    ['start-instance', 'StartInstances'],
    ['tag-old', 'CreateTags'],
  ])(
    'a fault at %s (%s) rolls back: the instance is exactly as before, and the same request id does nothing more',
    async (step, action) => {
      const before = await pictureOf(running);
      const faults = new Faults().fail(action, {
        name: 'InternalError',
        httpStatusCode: 500,
        fault: 'server',
        times: 1,
      });
      const faulty = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 });
      const requestId = `fault-${step}`;
      const failing = replaceHandler(faulty)({ volumeId: running.dataVolumeIds[0], requestId });
      await expect(failing).rejects.toBeInstanceOf(RunbookFailedError);
      await expect(failing).rejects.toMatchObject({ step, rolledBack: true });
      expect(faults.count(action, 'failed')).toBe(1);
      expect(await pictureOf(running)).toEqual(before);
      expect(await journal.get('replace-volume', requestId)).toMatchObject({ state: 'rolled-back' });

      const again = replaceHandler(faulty)({ volumeId: running.dataVolumeIds[0], requestId });
      await expect(again).rejects.toThrow(/already ran and failed: .*nothing was done again/);
      expect(await pictureOf(running)).toEqual(before);
    },
  );

  it('swaps a running instance’s volume at its device, keeps the old one tagged, and starts it again', async () => {
    const old = running.dataVolumeIds[0] as string;
    const before = await pictureOf(running);
    const result = await replaceHandler()({ volumeId: old, requestId: 'swap-1' });
    const after = await pictureOf(running);
    expect(result).toMatchObject({
      oldVolumeId: old,
      device: '/dev/sdf',
      instanceState: 'running',
      repeated: false,
    });
    expect(after.state).toBe('running');
    expect(after.devices).toEqual({ ...before.devices, '/dev/sdf': result.newVolumeId });
    expect(after.volumeTags[result.newVolumeId as string]).toEqual({
      App: 'db',
      Team: 'data',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': result.generationId,
      'snapkeeper:source-volume': old,
    });
    const kept = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [old] }))).Volumes?.[0];
    expect(kept?.State).toBe('available');
    expect(tagsOf(kept?.Tags)).toEqual({
      App: 'db',
      Team: 'data',
      'snapkeeper:replaced-by': result.newVolumeId,
    });
    expect(await journal.get('replace-volume', 'swap-1')).toMatchObject({ state: 'completed' });

    // The same request delivered again returns what it did; nothing is created or moved.
    const again = await replaceHandler()({ volumeId: old, requestId: 'swap-1' });
    expect(again).toMatchObject({ newVolumeId: result.newVolumeId, repeated: true });
    expect(await pictureOf(running)).toEqual(after);
  });

  it('does the work once when the same request arrives twice at the same moment', async () => {
    const volumeId = stopped.dataVolumeIds[0] as string;
    const before = await pictureOf(stopped);
    const send = () =>
      replaceHandler()({ volumeId, requestId: 'twice-at-once' }).catch((error: unknown) => error);
    const outcomes = await Promise.all([send(), send()]);
    const done = outcomes.filter((o): o is ReplaceVolumeResult => !(o instanceof Error));
    expect(done.length).toBeGreaterThanOrEqual(1);
    for (const other of outcomes.filter((o) => o instanceof Error))
      expect(other).toBeInstanceOf(RunbookInProgressError);
    const after = await pictureOf(stopped);
    expect(new Set(done.map((d) => d.newVolumeId)).size).toBe(1);
    // One new volume, at the old one's device; the instance stays stopped, as it was.
    expect(after.volumeCount).toBe(before.volumeCount + 1);
    expect(after.state).toBe('stopped');
    expect(after.devices['/dev/sdf']).toBe(done[0]?.newVolumeId);
  });

  it('refuses bad input before changing anything, naming the flag in the CLI and the field in the Lambda', async () => {
    const loose = await aVolume(ec2, { tags: { App: 'scratch' } });
    const untaggedHost = await anInstance(ec2, { volumeTags: [{ App: 'x' }] });
    const before = await pictureOf(running);
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ volumeId: 'vol-0123456789abcdef0' }, /volumeId: vol-0123456789abcdef0 does not exist in us-east-1/],
      [
        { volumeId: loose },
        /is not attached to an instance.*with restore-volume \(snapkeeper restore --volume/,
      ],
      [{ volumeId: untaggedHost.dataVolumeIds[0] }, /carries no snapkeeper:policy tag/],
      [{ volumeId: 'disk-1' }, /volumeId: must be a volume id/],
      [
        { volumeId: loose, at: '2026-12-01T00:00:00Z', generationId: 'gen-20261201T030000-0123456789' },
        /give at or generationId, not both/,
      ],
    ];
    for (const [event, message] of refusals) {
      const refusing = replaceHandler()(event);
      await expect(refusing).rejects.toBeInstanceOf(RequestError);
      await expect(refusing).rejects.toThrow(message);
    }
    const flags = await cli(['replace-volume', '--volume', loose, '--config', configFile], clients);
    expect(flags.status).toBe(2);
    expect(flags.stderr).toContain(`--volume: ${loose} is not attached to an instance`);
    const tooEarly = await cli(
      [
        'replace-volume',
        '--volume',
        before.devices['/dev/sdf'] as string,
        '--at',
        '2026-11-01T00:00:00Z',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(tooEarly.status).toBe(1);
    expect(tooEarly.stderr).toMatch(
      /no completed generation of vol-\w+ taken at or before 2026-11-01T00:00:00.000Z/,
    );
    expect(await pictureOf(running)).toEqual(before);
  });

  it.each(['pending', 'stopping', 'shutting-down'])(
    'refuses an instance that is %s, changing nothing',
    async (state) => {
      // The emulator's instances are running or stopped at once; the fault layer reports the in-between state.
      const faults = new Faults().transform('DescribeInstances', (output) => withState(output, state));
      const faulty = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 });
      const before = await pictureOf(running);
      const refusing = replaceHandler(faulty)({ volumeId: before.devices['/dev/sdf'] });
      await expect(refusing).rejects.toThrow(
        new RegExp(`its instance i-\\w+ is ${state}; .*wait until it is running or stopped`),
      );
      expect(await pictureOf(running)).toEqual(before);
    },
  );
});

describe('replace-volume after a dead invocation', () => {
  it('takes the request over once the dead one’s lease ran out, and finishes from the recorded starting state', async () => {
    const host = await anInstance(ec2, {
      tags: { 'snapkeeper:policy': 'daily' },
      volumeTags: [{ App: 'late' }],
    });
    const at = new Date('2026-12-01T04:00:00Z');
    await runSchedule(
      { policy: 'daily', schedule: 'daily', scheduledAt: at.toISOString() },
      runDeps({ config, clients, clock: clockAt(at), log }),
    );
    await reconcile(reconcileDeps({ config, clients, clock: clockAt(new Date(at.getTime() + 60_000)), log }));
    const old = host.dataVolumeIds[0] as string;
    const plan = await replaceHandler()({ volumeId: old, dryRun: true });
    // What an invocation that died before its first step leaves behind: the request, its plan, a lease long over.
    const {
      requestId: _,
      newVolumeId: _n,
      dryRun: _d,
      steps: _s,
      repeated: _r,
      completedAt: _c,
      ...startingState
    } = plan;
    const { requestedAt: _q, availableAt: _a, initialization: _i, ...recorded } = startingState;
    expect(
      await journal.begin({
        runbook: 'replace-volume',
        requestId: 'died-mid-way',
        state: 'in-progress',
        owner: 'a-dead-invocation',
        leaseUntil: new Date(LATER.getTime() - 60_000).toISOString(),
        startedAt: new Date(LATER.getTime() - 3_600_000).toISOString(),
        updatedAt: new Date(LATER.getTime() - 3_600_000).toISOString(),
        plan: recorded,
        progress: {},
      }),
    ).toEqual({ begun: true });
    const result = await replaceHandler()({ volumeId: old, requestId: 'died-mid-way' });
    const after = await pictureOf(host);
    expect(after.state).toBe('running');
    expect(after.devices['/dev/sdf']).toBe(result.newVolumeId);
    expect(await journal.get('replace-volume', 'died-mid-way')).toMatchObject({ state: 'completed' });
  });
});

/** A DescribeInstances output with every instance in `state`. */
function withState(output: Record<string, unknown>, state: string): Record<string, unknown> {
  const reservations = (output.Reservations ?? []) as { Instances?: { State?: unknown }[] }[];
  return {
    ...output,
    Reservations: reservations.map((r) => ({
      ...r,
      Instances: r.Instances?.map((i) => ({ ...i, State: { Name: state } })),
    })),
  };
}
