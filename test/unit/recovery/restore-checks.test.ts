import { describe, expect, it } from 'vitest';
import { RESTORE_FLAGS } from '#cli/commands/restore.ts';
import { RequestError } from '#core/recovery/request.ts';
import { aConfig, aGeneration, aPolicy, aWorld } from '../../support/fakes.ts';

// What a dry run must refuse because the real CreateVolume would: each refusal a RequestError on the field to
// change, checked before anything is created, the same in a dry run and a real one.

const VOLUME = 'vol-0aaaaaaaaaaaaaaa1';
const AZ = 'us-east-1b';

function aWorldWith(
  snapshot: { sizeGiB?: number; volumeType?: string; iops?: number; throughput?: number } = {},
) {
  const world = aWorld({
    now: '2026-11-21T12:00:00.000Z',
    config: aConfig({ policies: [aPolicy({ copies: [{ region: 'eu-west-1' }] })] }),
  });
  const generation = aGeneration({ volumeId: VOLUME, takenAt: '2026-11-21T03:00:00.000Z' });
  const [first] = generation.snapshots;
  if (first) Object.assign(first, { sizeGiB: 20, ...snapshot });
  world.catalog.seed(generation);
  return { world, generation };
}

async function refusal(request: Record<string, unknown>, snapshot = {}) {
  const { world } = aWorldWith(snapshot);
  for (const dryRun of [true, false]) {
    const error = await world
      .restore({ volumeId: VOLUME, availabilityZone: AZ, dryRun, ...request })
      .catch((e) => e);
    expect(error).toBeInstanceOf(RequestError);
  }
  expect(world.volumes.calls).toEqual([]);
  expect(world.catalog.audits).toEqual([]);
  const error = (await world
    .restore({ volumeId: VOLUME, availabilityZone: AZ, ...request })
    .catch((e) => e)) as RequestError;
  return {
    lambda: error.message,
    cli: error.rendered(RESTORE_FLAGS),
    fields: error.problems.map((p) => p.field),
  };
}

describe('restore-volume: options EC2 would refuse', () => {
  it('refuses io1 and io2 without IOPS, naming the range', async () => {
    const io1 = await refusal({ volumeType: 'io1' });
    expect(io1.fields).toEqual(['iops']);
    expect(io1.lambda).toContain('iops: io1 needs provisioned IOPS: give iops (100-64,000 for io1)');
    expect(io1.cli).toContain('--iops: io1 needs provisioned IOPS: give --iops (100-64,000 for io1)');
    expect((await refusal({ volumeType: 'io2' })).cli).toContain('100-256,000 for io2');
  });

  it('refuses IOPS and throughput outside the volume type’s range', async () => {
    expect((await refusal({ volumeType: 'io1', iops: 64_001 })).cli).toContain(
      "--iops: 64,001 is outside io1's range of 100-64,000 IOPS",
    );
    expect((await refusal({ iops: 2_999 })).cli).toContain(
      "--iops: 2,999 is outside gp3's range of 3,000-80,000 IOPS",
    );
    expect((await refusal({ throughput: 2_001 })).cli).toContain(
      "--throughput: 2,001 MiB/s is outside gp3's range of 125-2,000 MiB/s",
    );
  });

  it('refuses IOPS for gp2 and throughput for any type but gp3', async () => {
    expect((await refusal({ volumeType: 'gp2', iops: 3000 })).cli).toContain(
      '--iops: cannot be set for gp2 (its IOPS follow its size); leave --iops out, or choose --volume-type gp3, io1 or io2',
    );
    expect((await refusal({ volumeType: 'io2', iops: 5000, throughput: 500 })).fields).toEqual([
      'throughput',
    ]);
  });

  it('refuses a size below the snapshot’s, and one outside the type’s sizes', async () => {
    expect((await refusal({ sizeGiB: 10 })).cli).toContain(
      '--size: 10 GiB is smaller than the snapshot (20 GiB); give 20 or more, or leave --size out',
    );
    // st1 starts at 125 GiB: the snapshot's 20 GiB cannot become one.
    expect((await refusal({ volumeType: 'st1' })).cli).toContain(
      "--volume-type: 20 GiB is outside st1's sizes of 125-16,384 GiB",
    );
  });

  it('refuses an initialization rate outside 100-300 MiB/s', async () => {
    const slow = await refusal({ initializationRate: 99 });
    expect(slow.cli).toContain('--initialization-rate: must be 100-300 MiB/s');
    expect((await refusal({ initializationRate: 301 })).fields).toEqual(['initializationRate']);
  });

  it('refuses a Region that is no copy Region of the policy, naming where its copies go', async () => {
    const { world, generation } = aWorldWith();
    const byGeneration = await world
      .restore({ generationId: generation.id, availabilityZone: 'us-west-2a', region: 'us-west-2' })
      .catch((e: unknown) => e);
    expect(byGeneration).toBeInstanceOf(RequestError);
    expect((byGeneration as RequestError).rendered(RESTORE_FLAGS)).toContain(
      '--to-region: us-west-2 is no copy Region of any policy; copies go to eu-west-1 (policy daily)',
    );
    expect(world.volumes.calls).toEqual([]);
  });

  it('passes a valid request through, with the size, rate and type asked for', async () => {
    const { world } = aWorldWith();
    const result = await world.restore({
      volumeId: VOLUME,
      availabilityZone: AZ,
      volumeType: 'io2',
      iops: 16_000,
      sizeGiB: 40,
      initializationRate: 300,
    });
    expect(world.volumes.calls[0]).toMatchObject({
      volumeType: 'io2',
      iops: 16_000,
      sizeGiB: 40,
      initializationRate: 300,
    });
    expect(result.volume).toMatchObject({ volumeType: 'io2', sizeGiB: 40, initializationRate: 300 });
  });
});

describe('restore-volume: the recovery time it reports', () => {
  it('reports when the volume was requested and available, and says initialization was not reported', async () => {
    const { world } = aWorldWith();
    const result = await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(result).toMatchObject({
      requestedAt: '2026-11-21T12:00:00.000Z',
      availableAt: '2026-11-21T12:00:00.000Z',
      initialization: { state: 'not-reported', reason: 'the fake reports nothing' },
    });
  });

  it('reports an initialization in progress as EBS reports it', async () => {
    const { world } = aWorldWith();
    world.volumes.initializationState = 'initializing';
    const result = await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(result.initialization).toEqual({
      state: 'initializing',
      observedAt: '2026-11-21T12:00:00.000Z',
      progressPercent: 40,
    });
  });
});
