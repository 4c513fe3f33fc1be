import {
  CreateImageCommand,
  CreateSnapshotCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { Ec2CopyService } from '#adapters/ec2/copies.ts';
import { tagsOf } from '#adapters/ec2/snapshots.ts';
import { AwsOperationError, CopyRefusedError } from '#core/model/errors.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { type Faults, faults as newFaults } from '../harness/faults.ts';
import { anInstance, aVolume } from '../support/fleet.ts';

// Cross-Region copies against the emulator, every call made with the destination Region's client. The emulator
// honours CopyImage's tags and ClientToken on its side, as AWS does (docs/emulator.md, the realistic emulator).

const SOURCE = 'us-east-1';
const KEY = 'arn:aws:kms:us-west-2:123456789012:key/0f1e2d3c-dr-key';
const east = new EC2Client({ region: SOURCE });
const described = (region: string) => new EC2Client({ region });

/** A copy service with the fault seam, as the other integration tests build it. */
function world(setup?: (faults: Faults) => void, maxAttempts = 2) {
  const faults = newFaults({ seed: 5 });
  setup?.(faults);
  const clients = new AwsClients({ middleware: [faults.pluggable()], maxAttempts });
  return { copies: new Ec2CopyService(clients), faults };
}

const copyTags = (generationId: string, extra: Tags): Tags => ({
  [TAG.managed]: 'true',
  [TAG.generation]: generationId,
  [TAG.sourceRegion]: SOURCE,
  ...extra,
});

async function refusalOf(
  promise: Promise<unknown>,
): Promise<{ refusal?: string; message?: string; error: unknown }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof CopyRefusedError
    ? { refusal: error.refusal, message: error.message, error }
    : { error };
}

let sourceSnapshotId: string;
let sourceImageId: string;

beforeAll(async () => {
  const volumeId = await aVolume(east, { tags: { Name: 'data' } });
  sourceSnapshotId = (await east.send(new CreateSnapshotCommand({ VolumeId: volumeId }))).SnapshotId ?? '';
  const instance = await anInstance(east, { dataVolumes: 0 });
  sourceImageId =
    (await east.send(new CreateImageCommand({ InstanceId: instance.instanceId, Name: 'copy-source' })))
      .ImageId ?? '';
  expect(sourceSnapshotId).toMatch(/^snap-/);
  expect(sourceImageId).toMatch(/^ami-/);
});

describe('copySnapshot', () => {
  it('copies into each DR Region, tagged at creation and re-encrypted with the given key', async () => {
    const { copies, faults } = world();
    const tags = copyTags('gen-snap', { [TAG.sourceSnapshot]: sourceSnapshotId });
    const request = { sourceRegion: SOURCE, sourceSnapshotId, tags, description: 'snapkeeper copy' };
    const west = await copies.copySnapshot({ ...request, region: 'us-west-2', kmsKeyId: KEY });
    const europe = await copies.copySnapshot({ ...request, region: 'eu-west-1' });

    const [inWest] =
      (await described('us-west-2').send(new DescribeSnapshotsCommand({ SnapshotIds: [west] }))).Snapshots ??
      [];
    expect(inWest).toMatchObject({
      State: 'completed',
      Encrypted: true,
      KmsKeyId: KEY,
      Description: 'snapkeeper copy',
    });
    expect(tagsOf(inWest?.Tags)).toEqual(tags);
    const [inEurope] =
      (await described('eu-west-1').send(new DescribeSnapshotsCommand({ SnapshotIds: [europe] })))
        .Snapshots ?? [];
    expect(tagsOf(inEurope?.Tags)).toEqual(tags);
    // No key given: the copy keeps the source's encryption rather than asking for a key.
    expect(faults.calls.filter((c) => c.action === 'CopySnapshot').map((c) => c.input)).toEqual([
      expect.objectContaining({
        SourceRegion: SOURCE,
        Encrypted: true,
        KmsKeyId: KEY,
        DestinationRegion: 'us-west-2',
      }),
      expect.objectContaining({ SourceRegion: SOURCE, DestinationRegion: 'eu-west-1' }),
    ]);
    expect(faults.calls.find((c) => c.input.DestinationRegion === 'eu-west-1')?.input).not.toHaveProperty(
      'Encrypted',
    );
    // Made in the destination Region, not in the source Region.
    const inSource = await east.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [west, europe] }] }),
    );
    expect(inSource.Snapshots ?? []).toEqual([]);
  });
});

describe('copyImage', () => {
  it('tags the copied AMI and its snapshots at creation, and a repeated client token makes no second copy', async () => {
    const { copies, faults } = world();
    const tags = copyTags('gen-ami', { [TAG.sourceImage]: sourceImageId });
    const request = {
      region: 'us-west-2',
      sourceRegion: SOURCE,
      sourceImageId,
      name: 'snapkeeper-gen-ami',
      tags,
      clientToken: 'gen-ami:us-west-2',
    };
    const imageId = await copies.copyImage(request);
    expect(await copies.copyImage(request)).toBe(imageId);
    // Both requests reach the emulator; the second is answered with the first copy (one AMI below).
    expect(faults.count('CopyImage', 'ok')).toBe(2);

    expect(faults.calls.find((c) => c.action === 'CopyImage')?.input).toMatchObject({
      ClientToken: 'gen-ami:us-west-2',
      SourceRegion: SOURCE,
      TagSpecifications: [
        { ResourceType: 'image', Tags: expect.arrayContaining([{ Key: TAG.generation, Value: 'gen-ami' }]) },
        {
          ResourceType: 'snapshot',
          Tags: expect.arrayContaining([{ Key: TAG.generation, Value: 'gen-ami' }]),
        },
      ],
    });
    const west = described('us-west-2');
    const images = (
      await west.send(
        new DescribeImagesCommand({
          Owners: ['self'],
          Filters: [{ Name: `tag:${TAG.generation}`, Values: ['gen-ami'] }],
        }),
      )
    ).Images;
    expect(images?.map((i) => i.ImageId)).toEqual([imageId]);
    expect(tagsOf(images?.[0]?.Tags)).toEqual(tags);
    const behind = images?.[0]?.BlockDeviceMappings?.flatMap((m) => m.Ebs?.SnapshotId ?? []) ?? [];
    const snapshots = (
      await west.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: behind }] }))
    ).Snapshots;
    expect(snapshots?.length).toBeGreaterThan(0);
    for (const snapshot of snapshots ?? []) expect(tagsOf(snapshot.Tags)).toEqual(tags);
  });

  it('answers a client token reused for another request as AWS does: refused', async () => {
    const { copies } = world();
    const request = {
      region: 'eu-west-1',
      sourceRegion: SOURCE,
      sourceImageId,
      name: 'snapkeeper-reused',
      tags: copyTags('gen-reused', { [TAG.sourceImage]: sourceImageId }),
      clientToken: 'reused-token',
    };
    await copies.copyImage(request);
    const { refusal, message } = await refusalOf(copies.copyImage({ ...request, name: 'another-name' }));
    expect(refusal).toBe('refused');
    expect(message).toMatch(/IdempotentParameterMismatch/);
  });
});

describe('finding copies again', () => {
  it('finds a generation’s snapshot and AMI copies with their source ids, and reads their states', async () => {
    const { copies } = world();
    const region = 'us-west-2';
    const snapshotId = await copies.copySnapshot({
      region,
      sourceRegion: SOURCE,
      sourceSnapshotId,
      tags: copyTags('gen-found', { [TAG.sourceSnapshot]: sourceSnapshotId }),
      description: 'found again',
    });
    const imageId = await copies.copyImage({
      region,
      sourceRegion: SOURCE,
      sourceImageId,
      name: 'snapkeeper-gen-found',
      tags: copyTags('gen-found', { [TAG.sourceImage]: sourceImageId }),
      clientToken: 'gen-found:us-west-2',
    });

    // The AMI's own snapshot carries the generation tag too, but no source-snapshot tag: not a snapshot copy.
    expect(await copies.copiesOfGeneration(region, 'gen-found')).toEqual({
      snapshots: [{ sourceId: sourceSnapshotId, id: snapshotId, state: 'completed' }],
      images: [{ sourceId: sourceImageId, id: imageId, state: 'available' }],
    });
    expect(await copies.copiesOfGeneration('eu-west-1', 'gen-found')).toEqual({ snapshots: [], images: [] });
    expect(await copies.copiesOfGeneration(region, 'gen-none')).toEqual({ snapshots: [], images: [] });

    const states = await copies.snapshotStates(region, [snapshotId, 'snap-0000000000000dead']);
    expect(states).toEqual(new Map([[snapshotId, 'completed']]));

    const image = await copies.image(region, imageId);
    expect(image).toEqual({
      state: 'available',
      snapshots: [
        { deviceName: expect.any(String), snapshotId: expect.stringMatching(/^snap-/), state: 'completed' },
      ],
    });
    expect(await copies.image(region, 'ami-0000000000000dead')).toBeUndefined();
    expect(await copies.image('eu-west-1', imageId)).toBeUndefined();
  });
});

describe('why EC2 would not start a copy', () => {
  const request = () => ({
    region: 'us-west-2',
    sourceRegion: SOURCE,
    sourceSnapshotId,
    tags: copyTags('gen-errors', { [TAG.sourceSnapshot]: sourceSnapshotId }),
    description: 'errors',
  });

  it('the Region’s concurrent-copy quota is full: limit', async () => {
    const { copies } = world((f) => f.fail('CopySnapshot', { name: 'ResourceLimitExceeded', times: 1 }));
    const { refusal, message } = await refusalOf(copies.copySnapshot(request()));
    expect(refusal).toBe('limit');
    expect(message).toMatch(/^CopySnapshot: ResourceLimitExceeded/);
  });

  it('throttling that outlasts the SDK’s retries: throttled', async () => {
    const { copies, faults } = world(
      (f) => f.fail('CopySnapshot', { name: 'RequestLimitExceeded', httpStatusCode: 503, fault: 'server' }),
      1,
    );
    expect((await refusalOf(copies.copySnapshot(request()))).refusal).toBe('throttled');
    expect(faults.count('CopySnapshot')).toBe(1);
  });

  it('a source snapshot or AMI that does not exist: refused, with EC2’s error', async () => {
    const { copies } = world();
    const snapshot = await refusalOf(
      copies.copySnapshot({ ...request(), sourceSnapshotId: 'snap-0000000000000dead' }),
    );
    expect(snapshot).toMatchObject({
      refusal: 'refused',
      message: expect.stringMatching(/InvalidSnapshot\.NotFound/),
    });
    const image = await refusalOf(
      copies.copyImage({
        region: 'us-west-2',
        sourceRegion: SOURCE,
        sourceImageId: 'ami-0000000000000dead',
        name: 'missing',
        tags: {},
        clientToken: 'missing-ami',
      }),
    );
    expect(image).toMatchObject({
      refusal: 'refused',
      message: expect.stringMatching(/InvalidAMIID\.NotFound/),
    });
  });

  it('a key the copy cannot use: refused', async () => {
    const { copies } = world((f) =>
      f.fail('CopySnapshot', { name: 'UnauthorizedOperation', message: 'not authorized to use the key' }),
    );
    const { refusal, message } = await refusalOf(copies.copySnapshot({ ...request(), kmsKeyId: KEY }));
    expect(refusal).toBe('refused');
    expect(message).toMatch(/not authorized to use the key/);
  });

  it('a server error is no refusal: it is raised for a later retry', async () => {
    const { copies } = world((f) => f.fail('CopySnapshot', { name: 'InternalError' }), 1);
    const { refusal, error } = await refusalOf(copies.copySnapshot(request()));
    expect(refusal).toBeUndefined();
    expect(error).toBeInstanceOf(AwsOperationError);
    expect((error as AwsOperationError).operation).toBe('CopySnapshot');
  });
});
