import {
  CreateImageCommand,
  CreateSnapshotCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { Ec2CopyService } from '#adapters/ec2/copies.ts';
import { CopyRefusedError } from '#core/model/errors.ts';
import { TAG } from '#core/model/tags.ts';
import type { CopyLimitOptions } from '../harness/copy-faults.ts';
import { ManualClock } from '../harness/fault-primitives.ts';
import { faults as newFaults } from '../harness/faults.ts';
import { anInstance, aVolume } from '../support/fleet.ts';

// The copy-quota fault rule against the emulator: EBS's concurrent copies per destination Region, which the
// emulator (copies complete at once, no quota) does not have. The Region is the one each client signs for.

const SOURCE = 'us-east-1';
const WEST = 'us-west-2';
const east = new EC2Client({ region: SOURCE });

function world(opts: CopyLimitOptions) {
  const clock = new ManualClock(1_000_000);
  const faults = newFaults({ clock });
  const limit = faults.copyLimit(opts);
  const clients = new AwsClients({
    middleware: [faults.pluggable()],
    maxAttempts: 1,
  });
  return { clock, faults, limit, clients, copies: new Ec2CopyService(clients) };
}

let sources: string[];
let sourceImageId: string;

beforeAll(async () => {
  sources = [];
  for (let i = 0; i < 8; i++) {
    const volumeId = await aVolume(east);
    sources.push((await east.send(new CreateSnapshotCommand({ VolumeId: volumeId }))).SnapshotId ?? '');
  }
  const instance = await anInstance(east, { dataVolumes: 0 });
  sourceImageId =
    (await east.send(new CreateImageCommand({ InstanceId: instance.instanceId, Name: 'limit-source' })))
      .ImageId ?? '';
});

const copyOf = (copies: Ec2CopyService, sourceSnapshotId: string, region = WEST) =>
  copies.copySnapshot({
    region,
    sourceRegion: SOURCE,
    sourceSnapshotId,
    tags: { [TAG.managed]: 'true', [TAG.sourceSnapshot]: sourceSnapshotId },
    description: 'limited',
  });

describe('the concurrent-copy quota of a destination Region', () => {
  it('starts three of five copies and refuses two with ResourceLimitExceeded, per Region', async () => {
    const { copies, limit, faults } = world({ limit: 3 });
    const results = await Promise.allSettled(sources.slice(0, 5).map((id) => copyOf(copies, id)));
    const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(started).toHaveLength(3);
    expect(refused).toHaveLength(2);
    for (const error of refused) {
      expect(error).toBeInstanceOf(CopyRefusedError);
      expect((error as CopyRefusedError).refusal).toBe('limit');
      expect((error as Error).cause).toMatchObject({
        name: 'ResourceLimitExceeded',
        $metadata: { httpStatusCode: 400 },
        $fault: 'client',
      });
    }
    expect(faults.count('CopySnapshot', 'failed')).toBe(2);
    expect(limit.inFlight(WEST)).toBe(3);
    expect(limit.started(WEST)).toBe(3);
    expect(limit.limitErrors(WEST)).toBe(2);
    expect(limit.maxInFlight(WEST)).toBe(3);

    // Another destination Region has a quota of its own.
    await copyOf(copies, sources[5] ?? '', 'eu-west-1');
    expect(limit.inFlight('eu-west-1')).toBe(1);
    expect(limit.inFlight(WEST)).toBe(3);
  });

  it('keeps copies pending until released; a released slot lets the next copy start', async () => {
    const { copies, limit, clients } = world({ limit: 2 });
    const first = await copyOf(copies, sources[0] ?? '');
    const second = await copyOf(copies, sources[1] ?? '');
    await expect(copyOf(copies, sources[2] ?? '')).rejects.toMatchObject({ refusal: 'limit' });

    const progress = async () =>
      (await clients.ec2(WEST).send(new DescribeSnapshotsCommand({ SnapshotIds: [first] }))).Snapshots?.[0]
        ?.Progress;
    expect(await copies.snapshotStates(WEST, [first, second])).toEqual(
      new Map([
        [first, 'pending'],
        [second, 'pending'],
      ]),
    );
    const before = Number.parseInt((await progress()) ?? '', 10);
    const after = Number.parseInt((await progress()) ?? '', 10);
    expect(after).toBeGreaterThan(before);
    expect(after).toBeLessThan(100);
    // A status filter sees the rewritten state, as it would in EC2.
    const completedOnly = await clients
      .ec2(WEST)
      .send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'status', Values: ['completed'] }] }));
    expect(completedOnly.Snapshots?.map((s) => s.SnapshotId)).not.toContain(first);

    limit.release(first);
    expect(await copies.snapshotStates(WEST, [first, second])).toEqual(
      new Map([
        [first, 'completed'],
        [second, 'pending'],
      ]),
    );
    await copyOf(copies, sources[2] ?? '');
    expect(limit.inFlight(WEST)).toBe(2);
    limit.releaseAll();
    expect(limit.inFlight(WEST)).toBe(0);
    expect([limit.started(WEST), limit.limitErrors(WEST), limit.maxInFlight(WEST)]).toEqual([3, 1, 2]);
  });

  it('completes copies after durationMs on the fault clock, with progress by elapsed time', async () => {
    const { copies, limit, clock, clients } = world({ limit: 2, durationMs: 60_000 });
    const first = await copyOf(copies, sources[0] ?? '');
    clock.advance(10_000);
    await copyOf(copies, sources[1] ?? '');
    await expect(copyOf(copies, sources[2] ?? '')).rejects.toBeInstanceOf(CopyRefusedError);

    clock.advance(20_000);
    const [half] =
      (await clients.ec2(WEST).send(new DescribeSnapshotsCommand({ SnapshotIds: [first] }))).Snapshots ?? [];
    expect(half).toMatchObject({ State: 'pending', Progress: '50%' });

    clock.advance(30_000);
    expect((await copies.snapshotStates(WEST, [first])).get(first)).toBe('completed');
    await copyOf(copies, sources[2] ?? '');
    expect(limit.maxInFlight(WEST)).toBe(2);
    expect(limit.inFlight(WEST)).toBe(2);
  });

  it('counts an AMI copy and reports it pending until it completes', async () => {
    const { copies, limit } = world({ limit: 1 });
    const imageId = await copies.copyImage({
      region: WEST,
      sourceRegion: SOURCE,
      sourceImageId,
      name: 'limited-ami',
      tags: { [TAG.managed]: 'true', [TAG.sourceImage]: sourceImageId },
      clientToken: 'limited-ami',
    });
    expect((await copies.image(WEST, imageId))?.state).toBe('pending');
    await expect(copyOf(copies, sources[0] ?? '')).rejects.toMatchObject({ refusal: 'limit' });
    limit.release(imageId);
    expect((await copies.image(WEST, imageId))?.state).toBe('available');
    await copyOf(copies, sources[0] ?? '');
    expect(limit.started(WEST)).toBe(2);
  });

  it('holds no slot for a copy the emulator refused', async () => {
    const { copies, limit } = world({ limit: 1 });
    await expect(copyOf(copies, 'snap-0000000000000dead')).rejects.toMatchObject({ refusal: 'refused' });
    await copyOf(copies, sources[0] ?? '');
    expect([limit.started(WEST), limit.limitErrors(WEST), limit.inFlight(WEST)]).toEqual([1, 0, 1]);
  });
});
