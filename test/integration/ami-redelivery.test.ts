import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { parseConfig } from '#core/config/config.ts';
import { catalogFor } from '#wiring';
import type { Faults } from '../harness/faults.ts';
import { agentWorld } from '../support/agent-world.ts';
import { anInstance } from '../support/fleet.ts';

// A run that dies after the emulator made the AMI (the CreateImage response and the look-up after it are lost
// through the fault seam), then redelivered: the retry finds the AMI by its generation tag and adopts it with its snapshots and amiId,
// and never calls CreateImage again.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'ami-redelivery-catalog' },
  policies: ['image', 'boot-only'].map((name) => ({
    name,
    targets: 'instances',
    schedules: [
      {
        name: 'daily',
        expression: 'cron(0 3 * * ? *)',
        keep: { count: 3 },
        ami: true,
        deprecateAfterDays: 30,
      },
    ],
    consistency: { mode: 'filesystem', timeoutSeconds: 4, onFailure: 'crash' },
  })),
});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());
const AT = '2026-11-20T03:00:00.000Z';

// The run looks for what a lost CreateImage made before imaging again; EC2 failing that look-up too leaves the
// first delivery nothing to record but a failure, so the redelivery is what must find the AMI.
// A call whose answer is thrown away is not in the fault seam's record, so the rule counts what it lost.
function loseCreateImageResponse() {
  const lost = { count: 0 };
  const setup = (faults: Faults) =>
    faults
      .use({
        actions: ['CreateImage'],
        after: () => {
          lost.count += 1;
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        },
      })
      .fail('DescribeImages', {
        name: 'InternalError',
        httpStatusCode: 500,
        fault: 'server',
        when: () => lost.count > 0,
      });
  return { lost, setup };
}

const imagesOf = async (generationId: string) =>
  (
    await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [{ Name: 'tag:snapkeeper:generation', Values: [generationId] }],
      }),
    )
  ).Images ?? [];

/** The first delivery loses the CreateImage response (one attempt, as a Lambda that then dies); the second is clean. */
async function deliverTwice(policy: string) {
  const { lost, setup } = loseCreateImageResponse();
  const dead = agentWorld(config, () => ({}), setup, { maxAttempts: 1 });
  const first = await dead.run(policy, AT);
  // The dead delivery imaged the instance once and then failed to look for the AMI: it never imaged again.
  expect(lost.count).toBe(1);
  expect(dead.faults.count('DescribeImages', 'failed')).toBe(1);
  const retry = agentWorld(config, () => ({}));
  const second = await retry.run(policy, AT);
  return { first: first.results[0], second: second.results[0], faults: retry.faults };
}

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('an AMI generation redelivered after CreateImage', () => {
  it('adopts the AMI with its snapshots and amiId instead of imaging the instance again', async () => {
    const instance = await anInstance(ec2, { tags: { 'snapkeeper:policy': 'image' }, dataVolumes: 1 });
    const { first, second, faults } = await deliverTwice('image');
    expect(first).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(second).toMatchObject({ outcome: 'adopted' });
    expect(faults.count('CreateImage')).toBe(0);
    expect(faults.calls.find((c) => c.action === 'DescribeImages' && c.input.Owners)?.input).toMatchObject({
      Owners: ['self'],
      Filters: expect.arrayContaining([
        { Name: 'tag:snapkeeper:generation', Values: [second?.generationId] },
        { Name: 'tag:snapkeeper:managed', Values: ['true'] },
      ]),
    });

    const images = await imagesOf(second?.generationId ?? '');
    expect(images).toHaveLength(1);
    const generation = await catalog.get(second?.generationId ?? '');
    expect(generation?.amiId).toBe(images[0]?.ImageId);
    expect(generation?.failure).toBeUndefined();
    expect(generation?.consistency).toBe('crash');
    const amiOf = Object.fromEntries(generation?.snapshots.map((s) => [s.volumeId, s.amiId ?? null]) ?? []);
    expect(amiOf).toEqual({
      [instance.bootVolumeId]: images[0]?.ImageId,
      [instance.dataVolumeIds[0] ?? '']: null,
    });
    // The adopting delivery deprecates the AMI, which the dead one never reached.
    expect(faults.count('EnableImageDeprecation')).toBe(1);
  });

  it('adopts the AMI when no snapshot of the generation is found by tag, instead of a second CreateImage', async () => {
    // No data volume, and the emulator leaves an AMI's snapshots untagged: the image is all there is to find.
    const instance = await anInstance(ec2, { tags: { 'snapkeeper:policy': 'boot-only' }, dataVolumes: 0 });
    const { first, second, faults } = await deliverTwice('boot-only');
    expect(first).toMatchObject({ outcome: 'failed' });
    expect(second).toMatchObject({ outcome: 'adopted' });
    expect(faults.count('CreateImage')).toBe(0);
    const images = await imagesOf(second?.generationId ?? '');
    expect(images).toHaveLength(1);
    const generation = await catalog.get(second?.generationId ?? '');
    expect(generation).toMatchObject({
      amiId: images[0]?.ImageId,
      snapshots: [expect.objectContaining({ volumeId: instance.bootVolumeId, amiId: images[0]?.ImageId })],
    });
    expect(generation?.notes).toEqual([expect.stringMatching(/^adopted by a redelivery/)]);
  });
});
