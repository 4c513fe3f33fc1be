import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { aConfig, aGeneration, anId, aPolicy, aWorld } from '../../support/fakes.ts';
import { aCopy } from '../../support/lifecycle-builders.ts';

const VOLUME = 'vol-0aaaaaaaaaaaaaaa1';
const AZ = 'us-east-1b';

/** Generations of VOLUME, one per hour from 01:00, in the given states. */
function history(...states: (Generation['state'] | 'deleted')[]): Generation[] {
  return states.map((state, i) =>
    aGeneration({
      volumeId: VOLUME,
      takenAt: `2026-11-21T0${i + 1}:00:00.000Z`,
      state: state === 'deleted' ? 'completed' : state,
      ...(state === 'deleted' ? { deletedAt: '2026-11-21T12:00:00.000Z' } : {}),
    }),
  );
}

/** A config whose daily policy copies to us-west-2 and eu-west-1. */
const copyingConfig = aConfig({
  policies: [aPolicy({ copies: [{ region: 'us-west-2' }, { region: 'eu-west-1' }] })],
});

function aRestoreWorld(...generations: Generation[]) {
  const world = aWorld({ now: '2026-11-21T12:00:00.000Z', config: copyingConfig });
  world.catalog.seed(...generations);
  return world;
}

function snapshotOf(generation: Generation | undefined): string {
  return generation?.snapshots[0]?.snapshotId ?? '';
}

/** A completed generation of an instance with two volumes. */
function anInstanceGeneration(fields: Partial<Generation> = {}): Generation {
  const base = aGeneration({ volumeId: VOLUME, target: { kind: 'instance', id: anId('i') }, ...fields });
  const second = {
    ...(base.snapshots[0] as Generation['snapshots'][number]),
    volumeId: 'vol-0bbbbbbbbbbbbbbb2',
    snapshotId: anId('snap'),
  };
  return { ...base, snapshots: [...base.snapshots, second] };
}

describe('restoreVolume: which generation', () => {
  it('restores the newest completed generation at or before `at`, skipping pending, failed and deleted ones', async () => {
    // 01:00 completed, 02:00 completed, 03:00 pending, 04:00 failed, 05:00 deleted, 06:00 completed
    const generations = history('completed', 'completed', 'pending', 'failed', 'deleted', 'completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({
      volumeId: VOLUME,
      availabilityZone: AZ,
      at: '2026-11-21T05:30:00Z',
    });
    expect(result).toMatchObject({
      generationId: generations[1]?.id,
      sourceSnapshotId: snapshotOf(generations[1]),
    });
    expect(world.volumes.calls[0]?.snapshotId).toBe(result.sourceSnapshotId);
  });

  it('restores the newest completed generation when no time is given', async () => {
    const generations = history('completed', 'completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(result.generationId).toBe(generations[1]?.id);
    expect(result.sourceSnapshotId).toBe(snapshotOf(generations[1]));
  });

  it('includes a generation taken exactly at `at`', async () => {
    const generations = history('completed', 'completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({
      volumeId: VOLUME,
      availabilityZone: AZ,
      at: '2026-11-21T02:00:00.000Z',
    });
    expect(result.generationId).toBe(generations[1]?.id);
  });

  it('reads `at` with an offset as the same instant', async () => {
    const generations = history('completed', 'completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({
      volumeId: VOLUME,
      availabilityZone: AZ,
      at: '2026-11-21T03:30:00+02:00',
    });
    expect(result.generationId).toBe(generations[0]?.id);
  });

  it('finds a volume inside an instance generation', async () => {
    const generation = anInstanceGeneration();
    const world = aRestoreWorld(generation);
    const result = await world.restore({ volumeId: 'vol-0bbbbbbbbbbbbbbb2', availabilityZone: AZ });
    expect(result.sourceSnapshotId).toBe(generation.snapshots[1]?.snapshotId);
  });

  it('throws NotFoundError when no completed generation is that old', async () => {
    const world = aRestoreWorld(...history('completed'));
    const restoring = world.restore({ volumeId: VOLUME, availabilityZone: AZ, at: '2026-11-21T00:30:00Z' });
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(
      /no completed generation of vol-0aaaaaaaaaaaaaaa1 .*2026-11-21T00:30:00.000Z/,
    );
    expect(world.volumes.calls).toEqual([]);
  });

  it('throws NotFoundError when the only generations are pending, failed or deleted', async () => {
    const world = aRestoreWorld(...history('pending', 'failed', 'deleted'));
    await expect(world.restore({ volumeId: VOLUME, availabilityZone: AZ })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('restores a generation named by its id', async () => {
    const generations = history('completed', 'completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({ generationId: generations[0]?.id, availabilityZone: AZ });
    expect(result).toMatchObject({
      generationId: generations[0]?.id,
      sourceSnapshotId: snapshotOf(generations[0]),
    });
  });

  it('refuses a generation id that is unknown, pending or deleted', async () => {
    const [pending, deleted] = history('pending', 'deleted');
    const world = aRestoreWorld(pending as Generation, deleted as Generation);
    await expect(
      world.restore({ generationId: 'gen-20261121T030000-0000000000', availabilityZone: AZ }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(world.restore({ generationId: 'gen-nope', availabilityZone: AZ })).rejects.toThrow(
      /generationId: must be a generation id such as gen-/,
    );
    await expect(world.restore({ generationId: pending?.id, availabilityZone: AZ })).rejects.toThrow(
      /is pending/,
    );
    await expect(world.restore({ generationId: deleted?.id, availabilityZone: AZ })).rejects.toThrow(
      /is deleted/,
    );
  });

  it('needs volumeId to restore from a generation of several volumes', async () => {
    const generation = anInstanceGeneration();
    const world = aRestoreWorld(generation);
    const restoring = world.restore({ generationId: generation.id, availabilityZone: AZ });
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow(
      /2 volumes \(vol-0aaaaaaaaaaaaaaa1, vol-0bbbbbbbbbbbbbbb2\).*volumeId/,
    );
    const result = await world.restore({
      generationId: generation.id,
      volumeId: 'vol-0bbbbbbbbbbbbbbb2',
      availabilityZone: AZ,
    });
    expect(result.sourceSnapshotId).toBe(generation.snapshots[1]?.snapshotId);
  });
});

describe('restoreVolume: bad requests', () => {
  it('refuses a malformed volume id at the boundary, naming the field', async () => {
    const world = aRestoreWorld(...history('completed'));
    const restoring = world.restore({ volumeId: 'volume-1', availabilityZone: AZ });
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow(/bad restore-volume request: volumeId: must be a volume id/);
  });

  it('refuses an unknown Region before any AWS call, naming the likely one', async () => {
    const world = aRestoreWorld(...history('completed'));
    const restoring = world.restore({ volumeId: VOLUME, availabilityZone: AZ, region: 'us-west-9' });
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow('not an AWS Region id: "us-west-9" (did you mean "us-west-1"?)');
  });

  it('refuses an Availability Zone outside the Region', async () => {
    const world = aRestoreWorld(...history('completed'));
    const restoring = world.restore({ volumeId: VOLUME, availabilityZone: 'us-west-2a' });
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow(/us-west-2a is not in Region us-east-1/);
  });

  it('refuses an unknown Availability Zone, listing the zones of the Region', async () => {
    const world = aRestoreWorld(...history('completed'));
    world.volumes.zones['us-east-1'] = ['us-east-1a', 'us-east-1b', 'us-east-1d'];
    const restoring = world.restore({ volumeId: VOLUME, availabilityZone: 'us-east-1c' });
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow('us-east-1a, us-east-1b, us-east-1d');
  });

  it.each([
    ['neither volumeId nor generationId', { availabilityZone: AZ }, /give volumeId .* or generationId/],
    [
      'a time that is not ISO-8601',
      { volumeId: VOLUME, availabilityZone: AZ, at: 'yesterday' },
      /at: must be an ISO-8601 time/,
    ],
    [
      'an unknown field',
      { volumeId: VOLUME, availabilityZone: AZ, volumeID: VOLUME },
      /unknown field "volumeID"; check its spelling/,
    ],
    ['no availabilityZone', { volumeId: VOLUME }, /availabilityZone: is required/],
    ['a malformed volume id', { volumeId: 'disk-1', availabilityZone: AZ }, /volumeId: must be a volume id/],
    [
      'an unknown volume type',
      { volumeId: VOLUME, availabilityZone: AZ, volumeType: 'gp9' },
      /volumeType: must be one of gp2, gp3/,
    ],
  ])('refuses %s with an InputError naming the field', async (_, input, message) => {
    const world = aRestoreWorld(...history('completed'));
    const restoring = world.restore(input);
    await expect(restoring).rejects.toBeInstanceOf(InputError);
    await expect(restoring).rejects.toThrow(message);
    expect(world.volumes.calls).toEqual([]);
    expect(world.catalog.audits).toEqual([]);
  });
});

describe('restoreVolume: what it creates', () => {
  it('creates nothing on a dry run but writes an audit entry', async () => {
    const generations = history('completed');
    const world = aRestoreWorld(...generations);
    const result = await world.restore({ volumeId: VOLUME, availabilityZone: AZ, dryRun: true });
    expect(result).toEqual({
      volumeId: null,
      generationId: generations[0]?.id,
      sourceSnapshotId: snapshotOf(generations[0]),
      region: 'us-east-1',
      availabilityZone: AZ,
      volume: { volumeType: 'gp3', iops: 3000, throughput: 125 },
      requestedAt: '2026-11-21T12:00:00.000Z',
      availableAt: null,
      initialization: null,
      dryRun: true,
    });
    expect(world.volumes.calls).toEqual([]);
    expect(world.volumes.waited).toEqual([]);
    expect(world.catalog.audits).toEqual([
      expect.objectContaining({
        action: 'restore-volume',
        actor: 'unit-test',
        dryRun: true,
        at: '2026-11-21T12:00:00.000Z',
        request: expect.objectContaining({ volumeId: VOLUME }),
        result: expect.objectContaining({ volumeId: null }),
      }),
    ]);
  });

  it('creates the volume, waits until it is available, and audits the result', async () => {
    const world = aRestoreWorld(...history('completed'));
    const result = await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(result.volumeId).toMatch(/^vol-/);
    expect(world.volumes.waited).toEqual([{ region: 'us-east-1', volumeId: result.volumeId }]);
    expect(world.catalog.audits).toEqual([
      expect.objectContaining({
        dryRun: false,
        result: expect.objectContaining({ volumeId: result.volumeId }),
      }),
    ]);
  });

  it('tags the restored volume with the source volume tags, as managed, and with where it came from', async () => {
    const generations = history('completed');
    const world = aRestoreWorld(...generations);
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(world.volumes.calls[0]?.tags).toEqual({
      Name: 'data',
      Team: 'payments',
      [TAG.managed]: 'true',
      [TAG.restoredFrom]: generations[0]?.id,
      [TAG.sourceVolume]: VOLUME,
    });
  });

  it('takes volume type, iops and throughput from the source volume by default', async () => {
    const world = aRestoreWorld(...history('completed'));
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    expect(world.volumes.calls[0]).toMatchObject({
      volumeType: 'gp3',
      iops: 3000,
      throughput: 125,
      availabilityZone: AZ,
    });
  });

  it('uses the volume type and iops of the request over the source', async () => {
    const world = aRestoreWorld(...history('completed'));
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ, volumeType: 'io2', iops: 8000 });
    expect(world.volumes.calls[0]).toMatchObject({ volumeType: 'io2', iops: 8000, throughput: undefined });
  });

  it('does not carry the source iops to another volume type the request names', async () => {
    const world = aRestoreWorld(...history('completed'));
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ, volumeType: 'gp2' });
    expect(world.volumes.calls[0]).toMatchObject({
      volumeType: 'gp2',
      iops: undefined,
      throughput: undefined,
    });
  });
});

describe('restoreVolume: DR Regions', () => {
  function withCopies(copiesOf: (taken: Generation) => Generation['copies']) {
    const taken = anInstanceGeneration();
    const generation = { ...taken, copies: copiesOf(taken) };
    return { generation, world: aRestoreWorld(generation) };
  }

  it('refuses a generation without a completed copy in the Region, naming the Regions it can restore in', async () => {
    const { world, generation } = withCopies((g) => [
      aCopy(g, 'us-west-2', 'pending', []),
      aCopy(g, 'eu-west-1', 'completed', ['snap-0eu1', 'snap-0eu2']),
    ]);
    const restoring = world.restore({
      generationId: generation.id,
      volumeId: VOLUME,
      availabilityZone: 'us-west-2a',
      region: 'us-west-2',
    });
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(
      `generation ${generation.id} has no completed copy in us-west-2 (its copy there is pending); restorable in: us-east-1, eu-west-1`,
    );
    expect(world.volumes.calls).toEqual([]);
  });

  it('refuses a volume with no generation copied to the Region, naming the Region and the time', async () => {
    const { world } = withCopies((g) => [
      aCopy(g, 'us-west-2', 'pending', []),
      aCopy(g, 'eu-west-1', 'completed', ['snap-0eu1', 'snap-0eu2']),
    ]);
    const restoring = world.restore({
      volumeId: VOLUME,
      availabilityZone: 'us-west-2a',
      region: 'us-west-2',
    });
    await expect(restoring).rejects.toBeInstanceOf(NotFoundError);
    await expect(restoring).rejects.toThrow(
      `no completed generation of ${VOLUME} with a completed copy in us-west-2 taken at or before 2026-11-21T12:00:00.000Z`,
    );
    expect(world.volumes.calls).toEqual([]);
  });

  it('restores from the completed copy of the same volume in that Region', async () => {
    const { world } = withCopies((g) => [aCopy(g, 'us-west-2', 'completed', ['snap-0dr1', 'snap-0dr2'])]);
    const result = await world.restore({
      volumeId: 'vol-0bbbbbbbbbbbbbbb2',
      availabilityZone: 'us-west-2c',
      region: 'us-west-2',
    });
    expect(result).toMatchObject({
      sourceSnapshotId: 'snap-0dr2',
      region: 'us-west-2',
      availabilityZone: 'us-west-2c',
    });
    expect(world.volumes.calls[0]).toMatchObject({ region: 'us-west-2', snapshotId: 'snap-0dr2' });
    expect(world.volumes.waited).toEqual([{ region: 'us-west-2', volumeId: result.volumeId }]);
  });
});

describe('restoreVolume: idempotency', () => {
  it('gives CreateVolume the same token for the same idempotencyToken, and one volume', async () => {
    const world = aRestoreWorld(...history('completed'));
    const request = { volumeId: VOLUME, availabilityZone: AZ, idempotencyToken: 'lambda-request-1' };
    const first = await world.restore(request);
    const second = await world.restore(request);
    expect(world.volumes.calls[0]?.idempotencyToken).toBe(world.volumes.calls[1]?.idempotencyToken);
    expect(second.volumeId).toBe(first.volumeId);
  });

  it('gives different requests different tokens', async () => {
    const world = aRestoreWorld(...history('completed'));
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ, idempotencyToken: 'a' });
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ, idempotencyToken: 'b' });
    await world.restore({ volumeId: VOLUME, availabilityZone: 'us-east-1c', idempotencyToken: 'a' });
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    await world.restore({ volumeId: VOLUME, availabilityZone: AZ });
    const tokens = world.volumes.calls.map((c) => c.idempotencyToken);
    expect(new Set(tokens).size).toBe(5);
    for (const token of tokens) expect(token.length).toBeLessThanOrEqual(64);
  });
});
