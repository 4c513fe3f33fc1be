import { describe, expect, it } from 'vitest';
import type { Policy } from '#core/config/config.ts';
import { isMarkOf } from '#core/model/mark.ts';
import { TAG } from '#core/model/tags.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';
import { aConfig, anInstance, aPolicy, aVolume, aWorld, policyTag } from '../../support/fakes.ts';
import { freezing } from '../../support/freezing.ts';

// Every create call writes `snapkeeper:mark` in its tag specification, so nothing snapkeeper made is ever
// unmarked, not even for the moment between a create and a CreateTags.

const amiPolicy = {
  schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 }, ami: true }],
} as unknown as Partial<Policy>;

describe('marks at creation', () => {
  it('marks a volume snapshot over its generation and volume, and an instance set over its instance', async () => {
    const config = aConfig({ policies: [aPolicy(), aPolicy({ name: 'vols', targets: 'volumes' })] });
    const world = aWorld({ config });
    const web = anInstance({ tags: policyTag('daily'), volumes: 2 });
    const data = aVolume({ tags: policyTag('vols') });
    world.ec2.add(web, data);
    const sets = await world.run();
    const vols = await world.run({ policy: 'vols' });
    const [instanceCall, volumeCall] = world.ec2.createCalls;
    const generationId = sets.results[0]?.generationId ?? '';
    const mark = { kind: 'instance', generationId, instanceId: web.instanceId } as const;
    expect(isMarkOf(TEST_MARK_SECRET, mark, instanceCall?.request.tags[TAG.mark])).toBe(true);
    const volume = {
      kind: 'volume',
      generationId: vols.results[0]?.generationId ?? '',
      volumeId: data.volumeId,
    } as const;
    expect(isMarkOf(TEST_MARK_SECRET, volume, volumeCall?.request.tags[TAG.mark])).toBe(true);
    expect(world.markKey.reads).toBe(2);
  });

  it('marks an AMI (and the snapshots behind it) as an image, and its data snapshots as an instance set', async () => {
    const world = freezing({ policy: amiPolicy });
    const web = anInstance({ tags: policyTag('daily'), volumes: 2 });
    world.add(web);
    const report = await world.run();
    const generationId = report.results[0]?.generationId ?? '';
    const image = world.images.calls.find((c) => c.operation === 'createImage')?.request as {
      tags: Record<string, string>;
    };
    const facts = { generationId, instanceId: web.instanceId };
    expect(isMarkOf(TEST_MARK_SECRET, { kind: 'image', ...facts }, image.tags[TAG.mark])).toBe(true);
    const set = world.ec2.createCalls.find((c) => c.operation === 'CreateSnapshots');
    expect(isMarkOf(TEST_MARK_SECRET, { kind: 'instance', ...facts }, set?.request.tags[TAG.mark])).toBe(
      true,
    );
  });

  it('creates nothing when the mark key cannot be read: the generation fails, naming why', async () => {
    const world = aWorld();
    world.ec2.add(anInstance({ tags: policyTag('daily') }));
    world.markKey.failing = new Error('the mark key /snapkeeper/t/mark-key does not exist');
    const report = await world.run();
    expect(report.results[0]).toMatchObject({
      outcome: 'failed',
      failure: expect.stringContaining('the mark key /snapkeeper/t/mark-key does not exist'),
    });
    expect(world.ec2.createCalls).toEqual([]);
    expect(world.ec2.allSnapshots()).toEqual([]);
  });

  it('reads the key before the freeze, not inside it', async () => {
    const world = freezing();
    const web = anInstance({ tags: policyTag('daily') });
    world.add(web);
    let readDuringFreeze = false;
    const send = world.agent.send.bind(world.agent);
    world.agent.send = async (command) => {
      if (command.action === 'freeze') readDuringFreeze = world.markKey.reads === 0;
      return send(command);
    };
    await world.run();
    expect(world.markKey.reads).toBe(1);
    expect(readDuringFreeze).toBe(false);
  });
});
