import { describe, expect, it } from 'vitest';
import { NotFoundError, RunbookFailedError, RunbookInProgressError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { RequestError } from '#core/recovery/request.ts';
import {
  parseRestoreInstanceRequest,
  type RestoreInstanceOptions,
  restoreInstance,
} from '#core/recovery/restore-instance.ts';
import { FakeJournal, FakeLaunches } from '../../support/fake-launches.ts';
import { aConfig, aGeneration, anId, aPolicy, aWorld } from '../../support/fakes.ts';
import { aCopy } from '../../support/lifecycle-builders.ts';

const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const AMI = 'ami-0aaaaaaaaaaaaaaa1';
const NOW = '2026-11-21T12:00:00.000Z';

/** An AMI generation of INSTANCE: the AMI images the boot volume, one data volume at /dev/sdf. */
function anImageGeneration(fields: Partial<Generation> = {}): Generation {
  const base = aGeneration({ target: { kind: 'instance', id: INSTANCE }, amiId: AMI, ...fields });
  const [first] = base.snapshots;
  const snapshot = first as Generation['snapshots'][number];
  return {
    ...base,
    snapshots: [
      {
        ...snapshot,
        volumeId: anId('vol'),
        snapshotId: anId('snap'),
        deviceName: '/dev/xvda',
        instanceId: INSTANCE,
        amiId: AMI,
      },
      {
        ...snapshot,
        deviceName: '/dev/sdf',
        instanceId: INSTANCE,
        volumeTags: { Team: 'payments', 'snapkeeper:policy': 'daily' },
      },
    ],
  };
}

function aLaunchWorld(...generations: Generation[]) {
  const world = aWorld({
    now: NOW,
    config: aConfig({ policies: [aPolicy({ copies: [{ region: 'us-west-2' }] })] }),
  });
  world.catalog.seed(...generations);
  const launches = new FakeLaunches();
  launches.images.set(AMI, { imageId: AMI, state: 'available', rootDeviceName: '/dev/xvda' });
  launches.subnets.set('subnet-0aaaaaaaaaaaaaaa1', {
    subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
    vpcId: 'vpc-1',
    availabilityZone: 'us-east-1b',
  });
  launches.subnets.set('subnet-0bbbbbbbbbbbbbbb2', {
    subnetId: 'subnet-0bbbbbbbbbbbbbbb2',
    vpcId: 'vpc-2',
    availabilityZone: 'us-east-1c',
  });
  launches.groups.set('sg-0aaaaaaaaaaaaaaa1', 'vpc-1');
  launches.groups.set('sg-0bbbbbbbbbbbbbbb2', 'vpc-2');
  launches.keyPairs.add('ops');
  launches.sources.set(INSTANCE, {
    instanceId: INSTANCE,
    state: 'running',
    availabilityZone: 'us-east-1b',
    tags: { Name: 'db', 'snapkeeper:policy': 'daily', 'aws:cloudformation:stack-name': 'x' },
    devices: {},
    instanceType: 'm5.large',
    subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
    vpcId: 'vpc-1',
    securityGroupIds: ['sg-0aaaaaaaaaaaaaaa1'],
    keyName: 'ops',
    instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/db',
  });
  // The fake volume service's volumes become visible to the instance side once created.
  const create = world.volumes.createVolume.bind(world.volumes);
  world.volumes.createVolume = async (request) => {
    const volumeId = await create(request);
    if (!launches.volumes.has(volumeId)) launches.track(volumeId);
    return volumeId;
  };
  const journal = new FakeJournal();
  const deps = {
    config: world.config,
    catalog: world.catalog,
    volumes: world.volumes,
    instances: launches,
    launches,
    journal,
    clock: world.clock,
    log: world.log,
    actor: 'unit-test',
  };
  return {
    ...world,
    launches,
    journal,
    restoreInstance: (input: Record<string, unknown>, options?: RestoreInstanceOptions) =>
      restoreInstance(parseRestoreInstanceRequest(input), deps, options),
  };
}

describe('restoreInstance', () => {
  it('launches the newest AMI generation with what the source had, and attaches its data volumes at their devices', async () => {
    const generation = anImageGeneration();
    const world = aLaunchWorld(generation);
    const result = await world.restoreInstance({ instanceId: INSTANCE, requestId: 'r-1' });
    expect(result).toMatchObject({
      generationId: generation.id,
      imageId: AMI,
      instanceType: 'm5.large',
      subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
      availabilityZone: 'us-east-1b',
      securityGroupIds: ['sg-0aaaaaaaaaaaaaaa1'],
      keyName: 'ops',
      instanceProfile: 'arn:aws:iam::123456789012:instance-profile/db',
      carriedFrom: 'source-instance',
    });
    const [launch] = [...world.launches.launched.values()];
    expect(launch?.request.tags).toEqual({
      Name: 'db',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': generation.id,
      'snapkeeper:source-instance': INSTANCE,
      'snapkeeper:request': 'r-1',
    });
    const [created] = world.volumes.calls;
    expect(created).toMatchObject({
      snapshotId: generation.snapshots[1]?.snapshotId,
      availabilityZone: 'us-east-1b',
      volumeType: 'gp3',
    });
    // The data volume's own tags travel, but not a policy tag that would make it a second backup target.
    expect(created?.tags).toEqual({
      Team: 'payments',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': generation.id,
      'snapkeeper:source-volume': generation.snapshots[1]?.volumeId,
    });
    const volumeId = result.volumeIds['/dev/sdf'] as string;
    expect(world.launches.volumes.get(volumeId)?.attachment).toMatchObject({
      instanceId: result.instanceId,
      device: '/dev/sdf',
    });
    expect(world.catalog.audits.at(-1)).toMatchObject({ action: 'restore-instance', dryRun: false });
  });

  it('takes the flags over the source and adds the caller’s tags without the source’s', async () => {
    const world = aLaunchWorld(anImageGeneration());
    const result = await world.restoreInstance(
      {
        instanceId: INSTANCE,
        subnetId: 'subnet-0bbbbbbbbbbbbbbb2',
        securityGroupIds: 'sg-0bbbbbbbbbbbbbbb2',
        instanceType: 't3.small',
        instanceProfile: 'scratch',
      },
      { carrySourceTags: false, extraTags: { 'snapkeeper:drill': 'd-1' } },
    );
    expect(result).toMatchObject({
      subnetId: 'subnet-0bbbbbbbbbbbbbbb2',
      availabilityZone: 'us-east-1c',
      securityGroupIds: ['sg-0bbbbbbbbbbbbbbb2'],
      instanceType: 't3.small',
      instanceProfile: 'scratch',
    });
    expect(result.tags).not.toHaveProperty('Name');
    expect(result.tags).toMatchObject({ 'snapkeeper:drill': 'd-1', 'snapkeeper:managed': 'true' });
  });

  it('launches from the AMI copy and the snapshot copies in a copy Region', async () => {
    const generation = anImageGeneration();
    const copy = aCopy(generation, 'us-west-2', 'completed');
    copy.images = [{ sourceImageId: AMI, imageId: 'ami-0ccccccccccccccc3', state: 'available' }];
    const world = aLaunchWorld({ ...generation, copies: [copy] });
    world.launches.images.set('ami-0ccccccccccccccc3', {
      imageId: 'ami-0ccccccccccccccc3',
      state: 'available',
    });
    const result = await world.restoreInstance({
      instanceId: INSTANCE,
      region: 'us-west-2',
      subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
      securityGroupIds: 'sg-0aaaaaaaaaaaaaaa1',
    });
    expect(result).toMatchObject({ region: 'us-west-2', imageId: 'ami-0ccccccccccccccc3' });
    expect(world.volumes.calls[0]?.snapshotId).toBe(copy.snapshots[1]?.snapshotId);
  });

  it('dry run: checks everything and creates nothing', async () => {
    const world = aLaunchWorld(anImageGeneration());
    const result = await world.restoreInstance({ instanceId: INSTANCE, dryRun: true });
    expect(result).toMatchObject({ dryRun: true, instanceId: null });
    expect(world.launches.launched.size).toBe(0);
    expect(world.volumes.calls).toEqual([]);
    expect(world.launches.calls).toContain('instanceTypeOffered');
  });

  it('the same request id launches once, and a request another invocation holds is refused', async () => {
    const world = aLaunchWorld(anImageGeneration());
    const first = await world.restoreInstance({ instanceId: INSTANCE, requestId: 'once' });
    const again = await world.restoreInstance({ instanceId: INSTANCE, requestId: 'once' });
    expect(again).toMatchObject({ instanceId: first.instanceId, repeated: true });
    expect(world.launches.launched.size).toBe(1);

    const [outcome, other] = await Promise.allSettled([
      world.restoreInstance({ instanceId: INSTANCE, requestId: 'twice' }),
      world.restoreInstance({ instanceId: INSTANCE, requestId: 'twice' }),
    ]);
    expect(outcome.status).toBe('fulfilled');
    expect(other.status === 'rejected' && other.reason).toBeInstanceOf(RunbookInProgressError);
    expect(world.launches.launched.size).toBe(2);
  });

  it.each([
    ['launch', 'launch-instance'],
    ['waitForInstance', 'wait-running'],
    ['attach', 'attach-volumes'],
    ['waitForVolume', 'attach-volumes'],
  ])('a failure of %s terminates the instance and deletes the volumes it made', async (method, step) => {
    const world = aLaunchWorld(anImageGeneration());
    world.launches.failOn(method);
    const failing = world.restoreInstance({ instanceId: INSTANCE, requestId: `fail-${method}` });
    await expect(failing).rejects.toBeInstanceOf(RunbookFailedError);
    await expect(failing).rejects.toMatchObject({ step, rolledBack: true });
    expect(world.launches.alive()).toEqual([]);
    expect(world.launches.volumes.size).toBe(0);
    expect(await world.journal.get('restore-instance', `fail-${method}`)).toMatchObject({
      state: 'rolled-back',
    });
  });

  it('a failed volume creation rolls the launch back', async () => {
    const world = aLaunchWorld(anImageGeneration());
    world.volumes.faults.failNext('createVolume');
    const failing = world.restoreInstance({ instanceId: INSTANCE });
    await expect(failing).rejects.toMatchObject({ step: 'create-volumes', rolledBack: true });
    expect(world.launches.alive()).toEqual([]);
  });
});

describe('restoreInstance refuses, creating nothing', () => {
  const refusals: [string, (w: ReturnType<typeof aLaunchWorld>) => void, Record<string, unknown>, RegExp][] =
    [
      [
        'a deprecated AMI without force',
        (w) =>
          w.launches.images.set(AMI, {
            imageId: AMI,
            state: 'available',
            deprecationTime: '2026-11-01T00:00:00Z',
          }),
        {},
        /force: AMI ami-\w+ was deprecated at 2026-11-01T00:00:00Z.*give force to launch from it anyway/,
      ],
      [
        'a disabled AMI, even with force',
        (w) => w.launches.images.set(AMI, { imageId: AMI, state: 'disabled' }),
        { force: true },
        /is disabled \(State=disabled\): EC2 launches no instance from a disabled AMI, so force cannot override it/,
      ],
      [
        'a subnet that does not exist',
        () => {},
        { subnetId: 'subnet-0ddddddddddddddd4' },
        /subnetId: subnet-0ddddddddddddddd4 does not exist in us-east-1/,
      ],
      [
        'a subnet in another VPC than the source’s groups',
        () => {},
        { subnetId: 'subnet-0bbbbbbbbbbbbbbb2' },
        /securityGroupIds: the source instance's security groups are in vpc-1, and subnet-\w+ is in vpc-2/,
      ],
      [
        'a security group of another VPC',
        () => {},
        { securityGroupIds: 'sg-0bbbbbbbbbbbbbbb2' },
        /sg-0bbbbbbbbbbbbbbb2 is in vpc-2 and subnet-\w+ in vpc-1/,
      ],
      [
        'an instance type not offered in the zone',
        (w) => w.launches.offerings.set('us-east-1b', ['t3.micro']),
        { instanceType: 'p5.48xlarge' },
        /instanceType: p5.48xlarge is not offered in us-east-1b, so EC2 would refuse the launch/,
      ],
      [
        'a key pair that does not exist',
        () => {},
        { keyName: 'nobody' },
        /keyName: key pair nobody does not exist in us-east-1/,
      ],
      [
        'a gone source with nothing to carry',
        (w) => w.launches.sources.clear(),
        {},
        /subnetId: the source instance i-\w+ no longer exists, so there is no subnet to carry/,
      ],
      [
        'no AMI generation at or before the time',
        () => {},
        { at: '2026-11-01T00:00:00Z' },
        /at: no completed AMI generation of i-\w+ taken at or before 2026-11-01T00:00:00.000Z/,
      ],
    ];
  it.each(refusals)('%s', async (_name, arrange, fields, message) => {
    const world = aLaunchWorld(anImageGeneration());
    arrange(world);
    const refusing = world.restoreInstance({ instanceId: INSTANCE, ...fields });
    await expect(refusing).rejects.toBeInstanceOf(RequestError);
    await expect(refusing).rejects.toThrow(message);
    expect(world.launches.launched.size).toBe(0);
    expect(world.volumes.calls).toEqual([]);
  });

  it('an instance never backed up, and a generation of volumes only, pointing at restore-volume', async () => {
    const volumesOnly = aGeneration({ target: { kind: 'instance', id: INSTANCE } });
    const world = aLaunchWorld(volumesOnly);
    await expect(world.restoreInstance({ instanceId: 'i-0eeeeeeeeeeeeeee5' })).rejects.toThrow(
      /instanceId: i-0eeeeeeeeeeeeeee5 has no generation in the catalog/,
    );
    await expect(world.restoreInstance({ generationId: volumesOnly.id })).rejects.toThrow(
      /holds volume snapshots, no AMI.*restore-volume \(snapkeeper restore --generation/,
    );
    await expect(world.restoreInstance({ instanceId: INSTANCE })).rejects.toThrow(
      /no completed AMI generation/,
    );
    await expect(
      world.restoreInstance({ generationId: 'gen-20261121T030000-0123456789' }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('forced, a deprecated AMI launches with a warning', async () => {
    const world = aLaunchWorld(anImageGeneration());
    world.launches.images.set(AMI, {
      imageId: AMI,
      state: 'available',
      deprecationTime: '2026-11-01T00:00:00Z',
    });
    const result = await world.restoreInstance({ instanceId: INSTANCE, force: true });
    expect(result.warnings).toEqual([expect.stringMatching(/deprecated at .*launched anyway \(force\)/)]);
  });

  it('bad fields are named', () => {
    expect(() => parseRestoreInstanceRequest({})).toThrow(/give instanceId .* or generationId/);
    expect(() => parseRestoreInstanceRequest({ instanceId: 'web-1' })).toThrow(
      /instanceId: must be an instance id/,
    );
    expect(() =>
      parseRestoreInstanceRequest({ instanceId: INSTANCE, securityGroupIds: 'sg-1 sg-2' }),
    ).toThrow(/securityGroupIds: must be security group ids separated by commas/);
  });
});
