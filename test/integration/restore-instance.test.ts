import { writeFileSync } from 'node:fs';
import {
  AttachVolumeCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoRunbookJournal } from '#adapters/catalog/runbook-journal.ts';
import { AwsClients } from '#adapters/clients.ts';
import { tagList, tagsOf } from '#adapters/ec2/snapshots.ts';
import { consoleLog } from '#cli/console-log.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { RunbookFailedError } from '#core/model/errors.ts';
import { RequestError } from '#core/recovery/request.ts';
import { RestoreInstanceRequestSchema, type RestoreInstanceResult } from '#core/recovery/restore-instance.ts';
import { automationParameters, automationPayload } from '#handlers/automation.ts';
import { createRestoreInstanceHandler } from '#handlers/restore-instance.ts';
import { reconcileDeps, restoreInstanceDeps, runDeps } from '#wiring';
import { Faults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';

// restore-instance through the real handler, adapter and CLI against the emulator: a launch that carries the
// source's network, type, key and user tags and attaches the restored data volumes at their devices; one launch
// per request id, a lost RunInstances answer included; a fault at each step leaving nothing behind; and every
// value EC2 would refuse refused first, naming the field (the flag in the CLI).

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'restore-instance-catalog' },
  policies: [
    {
      name: 'golden',
      targets: 'instances',
      schedules: [
        {
          name: 'daily',
          expression: 'cron(0 3 * * ? *)',
          keep: { count: 7 },
          ami: true,
          deprecateAfterDays: 2,
        },
      ],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-restore-instance-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1', maxAttempts: 1 });
const clients = new AwsClients({ maxAttempts: 1 });
const log = consoleLog(() => {});
const TAKEN = new Date('2026-12-01T03:00:00Z');
const LATER = new Date('2026-12-01T09:00:00Z');
/** Past the AMI's deprecation (deprecateAfterDays 2). */
const DEPRECATED = new Date('2026-12-04T09:00:00Z');
const clockAt = (now: Date) => ({ now: () => now });
const journal = new DynamoRunbookJournal(clients.dynamo('us-east-1'), 'restore-instance-catalog');

interface Source {
  instanceId: string;
  subnetId: string;
  vpcId: string;
  groupId: string;
  dataVolumeId: string;
}
let source: Source;

/**
 * The CLI reads the real clock; the AMI's deprecation is fixed in time (TAKEN + 2 days). The CLI's runs fake
 * `Date` alone (no timer), at `now`, so what it sees does not depend on the day the suite runs.
 */
function cliAt(now: Date, argv: string[]) {
  vi.useFakeTimers({ toFake: ['Date'], now });
  return cli(argv, clients).finally(() => vi.useRealTimers());
}
afterEach(() => {
  vi.useRealTimers();
});

/** The restore-instance Lambda, its AWS calls through `withClients` (a fault layer), its clock at `now`. */
function restoreHandler(withClients: AwsClients = clients, now: Date = LATER) {
  const handler = createRestoreInstanceHandler(() =>
    restoreInstanceDeps({ config, clients: withClients, clock: clockAt(now), log }, 'integration-test'),
  );
  return (event: Record<string, unknown>) =>
    handler(event as never, lambdaContext('snapkeeper-restore-instance')) as Promise<RestoreInstanceResult>;
}

/** Every instance not terminated, and every volume: what a refused or rolled-back restore must leave as it was. */
async function world() {
  const reservations = (await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [];
  const instances = reservations
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => i.State?.Name !== 'terminated')
    .map((i) => i.InstanceId)
    .sort();
  const volumes = ((await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [])
    .map((v) => v.VolumeId)
    .sort();
  return { instances, volumes };
}

async function instance(instanceId: string): Promise<Instance> {
  const found = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
    .Reservations?.[0]?.Instances?.[0];
  if (!found) throw new Error(`no instance ${instanceId}`);
  return found;
}

async function launchedWith(requestId: string): Promise<Instance[]> {
  const reservations =
    (
      await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'tag:snapkeeper:request', Values: [requestId] }] }),
      )
    ).Reservations ?? [];
  return reservations.flatMap((r) => r.Instances ?? []);
}

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await cli(['init', '--config', configFile, '--quiet'], clients)).status).toBe(0);
  const subnet = (
    await ec2.send(
      new DescribeSubnetsCommand({
        Filters: [
          { Name: 'availability-zone', Values: ['us-east-1a'] },
          { Name: 'default-for-az', Values: ['true'] },
        ],
      }),
    )
  ).Subnets?.[0];
  if (!subnet?.SubnetId || !subnet.VpcId) throw new Error('the emulator has no default subnet in us-east-1a');
  const group = await ec2.send(
    new CreateSecurityGroupCommand({ GroupName: 'db', Description: 'db', VpcId: subnet.VpcId }),
  );
  await ec2.send(new CreateKeyPairCommand({ KeyName: 'ops' }));
  const launched = await ec2.send(
    new RunInstancesCommand({
      ImageId: 'ami-12345678',
      InstanceType: 't3.small',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: subnet.SubnetId,
      SecurityGroupIds: [group.GroupId as string],
      KeyName: 'ops',
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: tagList({ 'snapkeeper:policy': 'golden', Name: 'db', Team: 'data' }),
        },
      ],
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  const dataVolumeId = await aVolume(ec2, { tags: { App: 'db' }, sizeGiB: 30 });
  await ec2.send(
    new AttachVolumeCommand({ InstanceId: instanceId, VolumeId: dataVolumeId, Device: '/dev/sdf' }),
  );
  source = {
    instanceId,
    subnetId: subnet.SubnetId,
    vpcId: subnet.VpcId,
    groupId: group.GroupId as string,
    dataVolumeId,
  };
  await runSchedule(
    { policy: 'golden', schedule: 'daily', scheduledAt: TAKEN.toISOString() },
    runDeps({ config, clients, clock: clockAt(TAKEN), log }),
  );
  await reconcile(
    reconcileDeps({ config, clients, clock: clockAt(new Date(TAKEN.getTime() + 60_000)), log }),
  );
});

describe('restore-instance', () => {
  it('dry run: resolves everything from the live source and launches nothing', async () => {
    const before = await world();
    const plan = await restoreHandler()({ instanceId: source.instanceId, dryRun: true });
    expect(plan).toMatchObject({
      dryRun: true,
      instanceId: null,
      sourceInstanceId: source.instanceId,
      instanceType: 't3.small',
      subnetId: source.subnetId,
      vpcId: source.vpcId,
      availabilityZone: 'us-east-1a',
      securityGroupIds: [source.groupId],
      keyName: 'ops',
      carriedFrom: 'source-instance',
      steps: ['launch-instance', 'create-volumes', 'wait-running', 'wait-volumes', 'attach-volumes'],
    });
    expect(plan.volumes.map((v) => v.deviceName)).toEqual(['/dev/sdf']);
    expect(await world()).toEqual(before);
  });

  it('launches the AMI generation with what the source had, attaches its data volume, and launches once per request id', async () => {
    const result = await restoreHandler()({ instanceId: source.instanceId, requestId: 'restore-1' });
    expect(result).toMatchObject({ repeated: false, dryRun: false, generationId: expect.any(String) });
    const launched = await instance(result.instanceId as string);
    expect(launched.State?.Name).toBe('running');
    expect(launched.ImageId).toBe(result.imageId);
    expect(launched.InstanceType).toBe('t3.small');
    expect(launched.SubnetId).toBe(source.subnetId);
    expect(launched.KeyName).toBe('ops');
    expect(launched.SecurityGroups?.map((g) => g.GroupId)).toEqual([source.groupId]);
    // The user tags are carried; snapkeeper:policy is not, so the restore is no second backup target.
    expect(tagsOf(launched.Tags)).toEqual({
      Name: 'db',
      Team: 'data',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': result.generationId,
      'snapkeeper:source-instance': source.instanceId,
      'snapkeeper:request': 'restore-1',
    });
    const restored = result.volumeIds['/dev/sdf'] as string;
    const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [restored] }))).Volumes?.[0];
    expect(volume?.Attachments?.[0]).toMatchObject({ InstanceId: result.instanceId, Device: '/dev/sdf' });
    expect(volume?.Size).toBe(30);
    expect(tagsOf(volume?.Tags)).toMatchObject({
      App: 'db',
      'snapkeeper:managed': 'true',
      'snapkeeper:restored-from': result.generationId,
      'snapkeeper:source-volume': source.dataVolumeId,
    });
    expect(result.runningAt).not.toBeNull();
    expect(result.attachedAt).not.toBeNull();
    expect(await journal.get('restore-instance', 'restore-1')).toMatchObject({ state: 'completed' });

    const before = await world();
    const again = await restoreHandler()({ instanceId: source.instanceId, requestId: 'restore-1' });
    expect(again).toMatchObject({ instanceId: result.instanceId, repeated: true });
    expect(await world()).toEqual(before);
  });

  it('a RunInstances answer lost on the way back launches one instance: the resend carries the same ClientToken', async () => {
    let calls = 0;
    const faults = new Faults().use({
      actions: ['RunInstances'],
      after: (output) => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return output;
      },
    });
    const retrying = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 3 });
    const result = await restoreHandler(retrying)({
      instanceId: source.instanceId,
      requestId: 'lost-answer',
    });
    expect(calls).toBe(2);
    const launched = await launchedWith('lost-answer');
    expect(launched.map((i) => i.InstanceId)).toEqual([result.instanceId]);
  });

  it('a lost RunInstances answer with no retry left: the rollback finds the instance by its request tag and terminates it', async () => {
    const before = await world();
    const faults = new Faults().use({
      actions: ['RunInstances'],
      after: () => {
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      },
    });
    const faulty = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 });
    const failing = restoreHandler(faulty)({ instanceId: source.instanceId, requestId: 'lost-for-good' });
    await expect(failing).rejects.toMatchObject({ step: 'launch-instance', rolledBack: true });
    const launched = await launchedWith('lost-for-good');
    expect(launched).toHaveLength(1);
    expect(launched[0]?.State?.Name).toBe('terminated');
    expect(await world()).toEqual(before);
  });

  it.each([
    ['launch-instance', 'RunInstances'],
    ['create-volumes', 'CreateVolume'],
    ['attach-volumes', 'AttachVolume'],
  ])('a fault at %s (%s) rolls back: nothing is left running or unattached', async (step, action) => {
    const before = await world();
    const faults = new Faults().fail(action, {
      name: 'InternalError',
      httpStatusCode: 500,
      fault: 'server',
      times: 1,
    });
    const faulty = new AwsClients({ middleware: [faults.pluggable()], maxAttempts: 1 });
    const requestId = `fault-${step}`;
    const failing = restoreHandler(faulty)({ instanceId: source.instanceId, requestId });
    await expect(failing).rejects.toBeInstanceOf(RunbookFailedError);
    await expect(failing).rejects.toMatchObject({ step, rolledBack: true });
    expect(await world()).toEqual(before);
    expect(await journal.get('restore-instance', requestId)).toMatchObject({ state: 'rolled-back' });
    const again = restoreHandler(faulty)({ instanceId: source.instanceId, requestId });
    await expect(again).rejects.toThrow(/already ran and failed: .*nothing was done again/);
    expect(await world()).toEqual(before);
  });

  it('runs from its SSM Automation document’s payload, and through the CLI with --json', async () => {
    const parameters = automationParameters(RestoreInstanceRequestSchema, {}, 'requestId');
    const payload = automationPayload(parameters, 'requestId')
      .replace('{{ InstanceId }}', source.instanceId)
      .replace('{{ DryRun }}', 'true')
      .replace('{{ Force }}', 'false')
      .replace('{{ automation:EXECUTION_ID }}', 'f7d6a0b2-0000-4000-8000-000000000002')
      .replace(/\{\{ \w+ \}\}/g, '');
    const planned = await restoreHandler()(JSON.parse(payload));
    expect(planned).toMatchObject({ dryRun: true, requestId: 'f7d6a0b2-0000-4000-8000-000000000002' });

    const viaCli = await cliAt(LATER, [
      'restore-instance',
      '--instance',
      source.instanceId,
      '--dry-run',
      '--json',
      '--config',
      configFile,
    ]);
    expect(viaCli.status).toBe(0);
    expect(JSON.parse(viaCli.stdout)).toMatchObject({ sourceInstanceId: source.instanceId, dryRun: true });
    const text = await cliAt(LATER, [
      'restore-instance',
      '--instance',
      source.instanceId,
      '--dry-run',
      '--config',
      configFile,
    ]);
    expect(text.stdout).toMatch(
      /^Dry run: would launch generation \S+ \(AMI ami-\w+, source i-\w+\) as t3\.small/,
    );
  });

  it('refuses what EC2 would refuse before launching anything, naming the field in the Lambda and the flag in the CLI', async () => {
    const other = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
    const otherVpc = other.Vpc?.VpcId as string;
    const otherSubnet = await ec2.send(
      new CreateSubnetCommand({ VpcId: otherVpc, CidrBlock: '10.9.1.0/24', AvailabilityZone: 'us-east-1b' }),
    );
    const before = await world();
    const refusals: [Record<string, unknown>, RegExp][] = [
      [
        { instanceId: source.instanceId, subnetId: 'subnet-0123456789abcdef0' },
        /subnetId: subnet-0123456789abcdef0 does not exist in us-east-1/,
      ],
      [
        { instanceId: source.instanceId, subnetId: otherSubnet.Subnet?.SubnetId },
        /securityGroupIds: .*give securityGroupIds of vpc-/,
      ],
      [
        { instanceId: source.instanceId, securityGroupIds: 'sg-0123456789abcdef0' },
        /securityGroupIds: sg-0123456789abcdef0 does not exist in us-east-1/,
      ],
      [
        { instanceId: source.instanceId, instanceType: 'zz9.huge' },
        /instanceType: zz9\.huge is not offered in us-east-1a/,
      ],
      [{ instanceId: source.instanceId, keyName: 'nobody' }, /keyName: key pair nobody does not exist/],
      [{ instanceId: source.instanceId, subnetId: 'net-1' }, /subnetId: must be a subnet id/],
      [{}, /give instanceId .* or generationId/],
    ];
    for (const [event, message] of refusals) {
      const refusing = restoreHandler()(event);
      await expect(refusing).rejects.toBeInstanceOf(RequestError);
      await expect(refusing).rejects.toThrow(message);
    }
    const flags = await cliAt(LATER, [
      'restore-instance',
      '--instance',
      source.instanceId,
      '--subnet',
      'subnet-0123456789abcdef0',
      '--config',
      configFile,
    ]);
    expect(flags.status).toBe(2);
    expect(flags.stderr).toContain('--subnet: subnet-0123456789abcdef0 does not exist in us-east-1');
    expect(await world()).toEqual(before);
  });

  it('refuses a deprecated AMI unless forced, and launches from it with --force, saying so', async () => {
    const before = await world();
    const refusing = restoreHandler(clients, DEPRECATED)({ instanceId: source.instanceId });
    await expect(refusing).rejects.toThrow(
      /force: AMI ami-\w+ was deprecated at .*give force to launch from it anyway/,
    );
    const viaCli = await cliAt(DEPRECATED, [
      'restore-instance',
      '--instance',
      source.instanceId,
      '--config',
      configFile,
    ]);
    expect(viaCli.status).toBe(2);
    expect(viaCli.stderr).toMatch(/--force: AMI ami-\w+ was deprecated/);
    expect(await world()).toEqual(before);
    const forced = await restoreHandler(
      clients,
      DEPRECATED,
    )({
      instanceId: source.instanceId,
      force: true,
      requestId: 'forced',
    });
    expect(forced.warnings).toEqual([expect.stringMatching(/deprecated at .*launched anyway \(force\)/)]);
    expect((await instance(forced.instanceId as string)).State?.Name).toBe('running');
  });
});
