import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { DescribeParametersCommand, GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { describe, expect, inject, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { resetEndpoint } from '../harness/emulator.ts';
import { Faults } from '../harness/faults.ts';
import { firstJsonLine, isListening, isRunning, spawnEmulatorChild } from '../support/processes.ts';

const region = 'us-east-1';
const newVolume = { AvailabilityZone: `${region}a`, Size: 8 };

describe('the emulator harness', () => {
  it('hands every file an empty emulator through the standard AWS environment', async () => {
    expect(process.env.AWS_ENDPOINT_URL).toBe(inject('emulatorEndpoint'));
    expect(process.env.AWS_REGION).toBe(region);
    const clients = new AwsClients({ maxAttempts: 1 });
    expect((await clients.ec2(region).send(new DescribeVolumesCommand({}))).Volumes).toEqual([]);
    const snapshots = await clients.ec2(region).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
    expect(snapshots.Snapshots).toEqual([]);
    expect((await clients.ssm(region).send(new DescribeParametersCommand({}))).Parameters).toEqual([]);
  });

  it('resets the emulator to empty', async () => {
    const ec2 = new AwsClients({ maxAttempts: 1 }).ec2(region);
    await ec2.send(new CreateVolumeCommand(newVolume));
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes).toHaveLength(1);
    await resetEndpoint(inject('emulatorEndpoint'));
    expect((await ec2.send(new DescribeVolumesCommand({}))).Volumes).toEqual([]);
  });
});

describe('the fault layer on real SDK clients', () => {
  it('throttles inside the SDK retry loop, so the SDK retries and the call succeeds', async () => {
    const faults = new Faults().throttle('DescribeVolumes', { ratePerSecond: 10, burst: 1 });
    // The product's defaults: adaptive retries, 8 attempts.
    const ec2 = new AwsClients({ middleware: [faults.pluggable()] }).ec2(region);
    const attempts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const output = await ec2.send(new DescribeVolumesCommand({}));
      attempts.push(output.$metadata.attempts ?? 0);
    }
    // The second call follows the first within milliseconds, so it meets an empty bucket; the third may
    // not, because the adaptive retry mode slows the client down after a throttle.
    expect(faults.count('DescribeVolumes', 'ok')).toBe(3);
    expect(faults.count('DescribeVolumes', 'throttled')).toBeGreaterThanOrEqual(1);
    expect(attempts[1]).toBeGreaterThan(1);
  });

  it('surfaces a failed call as the named SDK error when retries are off', async () => {
    const faults = new Faults().fail('CreateVolume', { name: 'IncorrectState', times: 1 });
    const ec2 = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }).ec2(region);
    const error = await ec2.send(new CreateVolumeCommand(newVolume)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EC2ServiceException);
    expect(error).toMatchObject({ name: 'IncorrectState', $metadata: { attempts: 1 } });
    await expect(ec2.send(new CreateVolumeCommand(newVolume))).resolves.toMatchObject({ Size: 8 });
    expect(faults.calls.map((c) => c.outcome)).toEqual(['failed', 'ok']);
  });

  it('records what was sent, including parameters the emulator ignores', async () => {
    const faults = new Faults();
    const ec2 = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }).ec2(region);
    await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], MaxResults: 5 }));
    expect(faults.calls[0]).toMatchObject({
      action: 'DescribeSnapshots',
      input: { OwnerIds: ['self'], MaxResults: 5 },
    });
  });

  it('synthesizes an SSM command state the emulator never reports', async () => {
    const faults = new Faults().respond('GetCommandInvocation', (input) => ({
      CommandId: input.CommandId,
      InstanceId: input.InstanceId,
      Status: 'TimedOut',
    }));
    const ssm = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }).ssm(region);
    const output = await ssm.send(new GetCommandInvocationCommand({ CommandId: 'c-1', InstanceId: 'i-1' }));
    expect(output).toMatchObject({ CommandId: 'c-1', Status: 'TimedOut' });
  });

  it('keeps a real snapshot pending for a number of describes', async () => {
    const faults = new Faults().pendingSnapshots({ forCalls: 2 });
    const ec2 = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 }).ec2(region);
    const volume = await ec2.send(new CreateVolumeCommand(newVolume));
    const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
    expect(snapshot.State).toBe('pending');
    const states: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const described = await ec2.send(
        new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId ?? ''] }),
      );
      states.push(described.Snapshots?.[0]?.State);
    }
    expect(states).toEqual(['pending', 'pending', 'completed']);
  });
});

describe.runIf(inject('emulatorManaged'))('an emulator whose Node process is killed', () => {
  it('exits with it: no moto process and no listener remain', async () => {
    const child = spawnEmulatorChild();
    const started = await firstJsonLine(child.stdout);
    expect((await fetch(`${started.endpoint}/moto-api/data.json`)).ok).toBe(true);

    child.kill('SIGKILL');
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && (isRunning(started.pid) || (await isListening(started.port)))) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(isRunning(started.pid)).toBe(false);
    expect(await isListening(started.port)).toBe(false);
  });
});
