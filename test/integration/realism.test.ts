import { setTimeout as sleep } from 'node:timers/promises';
import {
  CopySnapshotCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { type RealismSettings, realismState, setRealism } from '#cli/sandbox/realism.ts';
import { resetEndpoint } from '../harness/emulator.ts';
import { anInstance, aVolume } from '../support/fleet.ts';

// The realistic emulator's behaviours, through plain SDK clients that no middleware touches: what every client of
// the port sees. Each test starts from a reset emulator, which also returns the realism to its defaults.

const endpoint = inject('emulatorEndpoint');
const plain = (region = 'us-east-1') => new EC2Client({ region, maxAttempts: 1 });
const ssm = new SSMClient({ region: 'us-east-1', maxAttempts: 1 });
const realism = (settings: RealismSettings) => setRealism(endpoint, settings);
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: Error) => error,
  );

beforeEach(async () => {
  await resetEndpoint(endpoint);
});

describe('the realistic emulator', () => {
  it('answers a repeated CreateVolume token with the first volume, and the same token on another request with IdempotentParameterMismatch', async () => {
    const ec2 = plain();
    const create = (Size: number) =>
      ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size, ClientToken: 'one' }));
    const first = await create(10);
    expect((await create(10)).VolumeId).toBe(first.VolumeId);
    const mismatch = await errorOf(create(20));
    expect(mismatch?.name).toBe('IdempotentParameterMismatch');
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes?.map((v) => v.VolumeId)).toEqual([
      first.VolumeId,
    ]);
  });

  it('keeps a new snapshot pending with rising progress for snapshotPendingMs, then completed', async () => {
    await realism({ snapshotPendingMs: 1500 });
    const ec2 = plain();
    const { SnapshotId, State } = await ec2.send(new CreateSnapshotCommand({ VolumeId: await aVolume(ec2) }));
    expect(State).toBe('pending');
    const pending = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'status', Values: ['pending'] }] }),
    );
    expect(pending.Snapshots?.map((s) => s.SnapshotId)).toEqual([SnapshotId]);
    expect(pending.Snapshots?.[0]?.Progress).toMatch(/^\d{1,2}%$/);
    await sleep(1600);
    const [done] =
      (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId ?? ''] }))).Snapshots ?? [];
    expect(done).toMatchObject({ State: 'completed', Progress: '100%' });
  });

  it('refuses a copy past the quota while copies are pending in that Region, and not in another', async () => {
    await realism({ copyPendingMs: 60_000, copyLimit: 1 });
    const east = plain();
    const { SnapshotId } = await east.send(new CreateSnapshotCommand({ VolumeId: await aVolume(east) }));
    const copyTo = (region: string) =>
      plain(region).send(
        new CopySnapshotCommand({ SourceRegion: 'us-east-1', SourceSnapshotId: SnapshotId }),
      );
    expect((await copyTo('us-west-2')).SnapshotId).toMatch(/^snap-/);
    const refused = await errorOf(copyTo('us-west-2'));
    expect(refused?.name).toBe('ResourceLimitExceeded');
    expect(refused?.message).toContain('The limit is 1 for this destination region');
    expect((await copyTo('eu-west-1')).SnapshotId).toMatch(/^snap-/);
  });

  it('meters an action with one token bucket that two clients share, and no other action', async () => {
    await realism({ throttle: [{ actions: ['DescribeVolumes'], ratePerSecond: 0, burst: 2 }] });
    const [one, two] = [plain(), plain()];
    await one.send(new DescribeVolumesCommand({}));
    await two.send(new DescribeVolumesCommand({}));
    const throttled = await errorOf(one.send(new DescribeVolumesCommand({})));
    expect(throttled?.name).toBe('RequestLimitExceeded');
    expect((throttled as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(503);
    await expect(one.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).resolves.toBeDefined();
  });

  it('lists only instances whose agent is online', async () => {
    const ec2 = plain();
    const online = await anInstance(ec2, { dataVolumes: 0 });
    const offline = await anInstance(ec2, { dataVolumes: 0 });
    await realism({ agents: { instances: { [offline.instanceId]: { online: false } } } });
    const listed = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [online.instanceId, offline.instanceId] }],
      }),
    );
    expect(listed.InstanceInformationList?.map((i) => [i.InstanceId, i.PingStatus])).toEqual([
      [online.instanceId, 'Online'],
    ]);
  });

  it('plays the freeze document: refuses a second freeze while the first holds, thaws by the watchdog, refuses past NotAfter', async () => {
    const { instanceId } = await anInstance(plain(), { dataVolumes: 1 });
    const soon = new Date(Date.now() + 60_000).toISOString();
    const send = async (Action: string, FreezeId: string, NotAfter = soon) => {
      const { Command } = await ssm.send(
        new SendCommandCommand({
          InstanceIds: [instanceId],
          DocumentName: 'snapkeeper-linux-fsfreeze',
          Parameters: { Action: [Action], FreezeId: [FreezeId], TimeoutSeconds: ['1'], NotAfter: [NotAfter] },
        }),
      );
      const CommandId = Command?.CommandId ?? '';
      const unregistered = await errorOf(
        ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: instanceId })),
      );
      expect(unregistered?.name).toBe('InvocationDoesNotExist');
      return ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: instanceId }));
    };
    const first = await send('Freeze', 'f-1');
    expect(first.Status).toBe('Success');
    expect(first.StandardOutputContent?.trim().split('\n')).toEqual([
      expect.stringMatching(/^SNAPKEEPER_FROZEN \/data0 \/dev\/nvme1n1 vol[0-9a-f]+$/),
      expect.stringMatching(/^SNAPKEEPER_FROZEN \/data1 \/dev\/nvme2n1 vol[0-9a-f]+$/),
      'SNAPKEEPER_FREEZE_OK',
    ]);
    const second = await send('Freeze', 'f-2');
    expect(second).toMatchObject({
      Status: 'Failed',
      StandardErrorContent: expect.stringContaining('another freeze (f-1)'),
    });
    await sleep(1100);
    expect((await send('Thaw', 'f-1')).StandardOutputContent).toBe('SNAPKEEPER_THAWED watchdog\n');
    const late = await send('Freeze', 'f-3', new Date(Date.now() - 1000).toISOString());
    expect(late).toMatchObject({
      Status: 'Failed',
      StandardErrorContent: expect.stringContaining('NotAfter'),
    });
    const { agents } = await realismState(endpoint);
    expect(agents.events.map((e) => e.event)).toEqual([
      'freeze-sent',
      'frozen',
      'freeze-sent',
      'watchdog-thawed',
      'thaw-sent',
      'freeze-sent',
    ]);
    expect(agents.frozen).toEqual([]);
  });

  it('refuses an unknown setting or a bad value naming the field, and a reset returns to the defaults', async () => {
    await expect(realism({ pendingMs: 5 } as RealismSettings)).rejects.toThrow(
      /unknown setting pendingMs; known:/,
    );
    await expect(realism({ copyLimit: 0 })).rejects.toThrow(/copyLimit takes a whole number >= 1, or null/);
    await expect(realism({ agents: { default: { freeze: 'maybe' as 'hang' } } })).rejects.toThrow(
      /agents.default.freeze takes success, failed or hang/,
    );
    await realism({ snapshotPendingMs: 5000 });
    await resetEndpoint(endpoint);
    expect((await realismState(endpoint)).settings.snapshotPendingMs).toBe(0);
  });
});
