import { describe, expect, it } from 'vitest';
import { CopyRefusedError } from '#core/model/errors.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { FakeCopyService } from '../../support/fake-copy-service.ts';
import { FakeClock } from '../../support/fakes.ts';

const MINUTE = 60_000;
const tags = (generationId: string, source: Tags): Tags => ({
  [TAG.managed]: 'true',
  [TAG.generation]: generationId,
  ...source,
});
const snapshotCopy = (sourceSnapshotId: string, region = 'us-west-2') => ({
  region,
  sourceRegion: 'us-east-1',
  sourceSnapshotId,
  tags: tags('gen-1', { [TAG.sourceSnapshot]: sourceSnapshotId }),
  description: 'copy',
});

async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof CopyRefusedError ? error.refusal : undefined;
}

describe('FakeCopyService', () => {
  it('refuses a copy past the Region’s limit and starts it once a copy completes', async () => {
    const clock = new FakeClock();
    const copies = new FakeCopyService({ clock, limit: 2, durationMs: () => 10 * MINUTE });
    const first = await copies.copySnapshot(snapshotCopy('snap-a'));
    await copies.copySnapshot(snapshotCopy('snap-b'));
    expect(await refusal(copies.copySnapshot(snapshotCopy('snap-c')))).toBe('limit');
    await copies.copySnapshot(snapshotCopy('snap-c', 'eu-west-1'));

    clock.advance(10 * MINUTE);
    expect(await copies.snapshotStates('us-west-2', [first])).toEqual(new Map([[first, 'completed']]));
    await copies.copySnapshot(snapshotCopy('snap-c'));
    expect(copies.started('us-west-2')).toBe(3);
    expect(copies.limitErrors('us-west-2')).toBe(1);
    expect(copies.maxInFlight('us-west-2')).toBe(2);
    expect(copies.inFlight('us-west-2')).toBe(1);
    expect(copies.busyMs('us-west-2')).toBe(20 * MINUTE);
  });

  it('holds one slot per snapshot of an AMI copy and answers a repeated client token with the same AMI', async () => {
    const clock = new FakeClock();
    const copies = new FakeCopyService({
      clock,
      limit: 3,
      durationMs: () => MINUTE,
      imageDevices: () => [
        { deviceName: '/dev/xvda', sourceSnapshotId: 'snap-root' },
        { deviceName: '/dev/sdf', sourceSnapshotId: 'snap-data' },
      ],
    });
    const request = {
      region: 'us-west-2',
      sourceRegion: 'us-east-1',
      sourceImageId: 'ami-source',
      name: 'copy',
      tags: tags('gen-1', { [TAG.sourceImage]: 'ami-source' }),
      clientToken: 'gen-1:us-west-2',
    };
    const imageId = await copies.copyImage(request);
    expect(await copies.copyImage(request)).toBe(imageId);
    expect(copies.inFlight('us-west-2')).toBe(2);
    await copies.copySnapshot(snapshotCopy('snap-a'));
    expect(await refusal(copies.copySnapshot(snapshotCopy('snap-b')))).toBe('limit');

    expect((await copies.image('us-west-2', imageId))?.state).toBe('pending');
    clock.advance(MINUTE);
    const image = await copies.image('us-west-2', imageId);
    expect(image?.state).toBe('available');
    expect(image?.snapshots.map((s) => [s.deviceName, s.state])).toEqual([
      ['/dev/xvda', 'completed'],
      ['/dev/sdf', 'completed'],
    ]);
    expect(await copies.copiesOfGeneration('us-west-2', 'gen-1')).toEqual({
      snapshots: [{ sourceId: 'snap-a', id: expect.any(String), state: 'completed' }],
      images: [{ sourceId: 'ami-source', id: imageId, state: 'available' }],
    });
  });

  it('throttles copy starts with the seeded probability, the same way for the same seed', async () => {
    const outcomes = async (seed: number) => {
      const copies = new FakeCopyService({ clock: new FakeClock(), throttleProbability: 0.3, seed });
      const results: (string | undefined)[] = [];
      for (let i = 0; i < 20; i++)
        results.push(await refusal(copies.copySnapshot(snapshotCopy(`snap-${i}`))));
      return { results, throttled: copies.throttled('us-west-2') };
    };
    const first = await outcomes(7);
    expect(first.throttled).toBeGreaterThan(0);
    expect(first.throttled).toBeLessThan(20);
    expect(first.results.filter((r) => r === 'throttled')).toHaveLength(first.throttled);
    expect(await outcomes(7)).toEqual(first);
  });

  it('reports a failed copy as error and frees its slot', async () => {
    const clock = new FakeClock();
    const copies = new FakeCopyService({ clock, limit: 1, durationMs: () => MINUTE });
    const id = await copies.copySnapshot(snapshotCopy('snap-a'));
    clock.advance(1000);
    copies.fail(id);
    expect((await copies.snapshotStates('us-west-2', [id])).get(id)).toBe('error');
    await copies.copySnapshot(snapshotCopy('snap-b'));
    expect(copies.busyMs('us-west-2')).toBe(1000);
  });
});
