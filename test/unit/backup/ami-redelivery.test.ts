import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import type { Policy } from '#core/config/config.ts';
import { anInstance, policyTag } from '../../support/fakes.ts';
import { freezing } from '../../support/freezing.ts';

// A run that dies after `CreateImage` made the AMI, redelivered: the AMI is found by its generation tag and
// adopted with its snapshots, never made twice (a second CreateImage would fail on the AMI's name anyway).

const amiSchedule = (extra: object = {}) =>
  ({
    schedules: [
      {
        name: 'daily',
        expression: 'cron(0 3 * * ? *)',
        keep: { count: 7 },
        ami: true,
        deprecateAfterDays: 30,
        ...extra,
      },
    ],
  }) as unknown as Partial<Policy>;

/** An AMI schedule whose first CreateImage makes the image and then loses the response. */
function imageLost(options: { volumes?: number; tagSnapshots?: boolean; amiDataVolumes?: string } = {}) {
  const world = freezing({
    policy: amiSchedule(options.amiDataVolumes ? { amiDataVolumes: options.amiDataVolumes } : {}),
  });
  const web = anInstance({ tags: policyTag('daily'), volumes: options.volumes ?? 3 });
  world.add(web);
  world.images.tagSnapshots = options.tagSnapshots ?? true;
  world.images.faults.failNext('createImage', {
    afterEffect: true,
    error: Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
  });
  return { ...world, web };
}

describe('an AMI generation redelivered after the run died past CreateImage', () => {
  it('adopts the AMI with its snapshots and amiId, and records the boot snapshot once, with the AMI', async () => {
    const world = imageLost();
    const [first] = (await world.run()).results;
    expect(first).toMatchObject({ outcome: 'failed', state: 'failed' });
    expect(world.agent.actions()).toEqual(['freeze', 'thaw']);

    const [retry] = (await world.run()).results;
    expect(retry).toMatchObject({ outcome: 'adopted' });
    expect(world.images.count('createImage')).toBe(1);
    const [image] = world.images.images.values();
    const [generation] = world.catalog.all();
    expect(generation).toMatchObject({ amiId: image?.imageId, consistency: 'crash' });
    expect(generation?.failure).toBeUndefined();
    const bySnapshot = generation?.snapshots.map((s) => [s.volumeId, s.amiId]);
    // Boot in the AMI; the two data volumes in the set taken next to it; each snapshot recorded once.
    expect(bySnapshot).toHaveLength(3);
    expect(bySnapshot).toEqual(
      expect.arrayContaining([
        [world.web.bootVolumeId, image?.imageId],
        [world.web.dataVolumeIds[0], undefined],
        [world.web.dataVolumeIds[1], undefined],
      ]),
    );
    expect(generation?.notes).toEqual([expect.stringMatching(/^adopted by a redelivery/)]);
    // The deprecation the dead delivery never reached is done by the one that adopts.
    expect(image?.deprecateAt).toBe('2026-12-21T03:00:00.000Z');
  });

  it('adopts the AMI even when no snapshot of the generation is found by tag', async () => {
    // Only the boot volume, and AMI snapshots untagged (as the emulator leaves them): nothing but the image.
    const world = imageLost({ volumes: 1, tagSnapshots: false });
    await world.run();
    expect(await world.ec2.snapshotsOfGenerations([world.catalog.all()[0]?.id ?? ''])).toEqual([]);

    const [retry] = (await world.run()).results;
    expect(retry).toMatchObject({ outcome: 'adopted' });
    expect(world.images.count('createImage')).toBe(1);
    const [image] = world.images.images.values();
    const [generation] = world.catalog.all();
    expect(generation?.amiId).toBe(image?.imageId);
    expect(generation?.snapshots).toEqual([
      expect.objectContaining({ volumeId: world.web.bootVolumeId, amiId: image?.imageId }),
    ]);
    expect(generation?.state).toBe('completed');
  });

  it('keeps the boot snapshot with its AMI while EC2 has not listed it under the image yet', async () => {
    const world = imageLost();
    await world.run();
    world.images.unlistedDescribes = 100;
    const [retry] = (await world.run()).results;
    expect(retry).toMatchObject({ outcome: 'adopted' });
    const [generation] = world.catalog.all();
    const boot = generation?.snapshots.find((s) => s.volumeId === world.web.bootVolumeId);
    expect(generation?.amiId).toMatch(/^ami-/);
    expect(boot?.amiId).toBe(generation?.amiId);
    expect(generation?.snapshots).toHaveLength(3);
  });

  it('adopts each member AMI of a consistency group by its source instance', async () => {
    const world = freezing({ policy: amiSchedule() });
    const group = { ...policyTag('daily'), 'snapkeeper:group': 'db' };
    const [a, b] = [anInstance({ tags: group }), anInstance({ tags: group })];
    world.add(a, b);
    world.images.faults.failNext('createImage', { afterEffect: true, times: 2 });
    expect((await world.run()).results[0]).toMatchObject({ outcome: 'failed' });

    const [retry] = (await world.run()).results;
    expect(retry).toMatchObject({ targetId: 'group:db', outcome: 'adopted' });
    expect(world.images.count('createImage')).toBe(2);
    const amiOf = new Map([...world.images.images.values()].map((i) => [i.instanceId, i.imageId]));
    const [generation] = world.catalog.all();
    const boots = generation?.snapshots.filter((s) => [a.bootVolumeId, b.bootVolumeId].includes(s.volumeId));
    expect(boots?.map((s) => [s.instanceId, s.amiId])).toEqual(
      expect.arrayContaining([
        [a.instanceId, amiOf.get(a.instanceId)],
        [b.instanceId, amiOf.get(b.instanceId)],
      ]),
    );
  });

  it('does not look for images on a schedule without AMIs', async () => {
    const world = freezing();
    world.add(anInstance({ tags: policyTag('daily') }));
    world.catalog.faults.failNext('recordOutcome');
    await world.run();
    world.clock.advance(CLAIM_LEASE_MS + 60_000);
    const [retry] = (await world.run()).results;
    expect(retry).toMatchObject({ outcome: 'adopted' });
    expect(world.images.count('imagesOfGeneration')).toBe(0);
  });
});
