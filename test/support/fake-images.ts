import type { GenerationImage, ImageService, ImageSnapshot } from '#core/backup/ports.ts';
import type { Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { anId, FAKE_ACCOUNT, type FakeEc2, Faults } from './fakes.ts';

type CreateImageRequest = Parameters<ImageService['createImage']>[0];

type ImageRequests = {
  createImage: CreateImageRequest;
  imageSnapshots: string;
  imagesOfGeneration: string;
  deprecate: string;
};

export interface FakeImage {
  imageId: string;
  name: string;
  instanceId: string;
  tags: Tags;
  snapshots: ImageSnapshot[];
  deprecateAt?: string;
  /** EC2's CreationDate and OwnerId; an image a test puts straight into the map was made just now, in our account. */
  createdAt?: string;
  ownerId?: string;
}

/**
 * AMIs over a FakeEc2, as EC2 makes them: the image of the boot volume, its snapshot made and tagged with it (the
 * `snapshot` TagSpecification) so it is also found by its generation tag, and names unique per account, so a
 * second `CreateImage` of the same generation fails as AWS fails it.
 */
export class FakeImages implements ImageService {
  readonly images = new Map<string, FakeImage>();
  readonly calls: { operation: keyof ImageRequests; request: unknown }[] = [];
  readonly faults = new Faults<ImageRequests>();
  /** Describes that list no snapshot yet, as EC2 right after `CreateImage`. */
  unlistedDescribes = 0;
  /** Whether the image's snapshots carry its tags (AWS: yes; the emulator through the harness: no). */
  tagSnapshots = true;

  constructor(private readonly ec2: FakeEc2) {}

  async createImage(request: CreateImageRequest): Promise<string> {
    this.calls.push({ operation: 'createImage', request: structuredClone(request) });
    await this.faults.before('createImage', request);
    const instance = this.ec2.instanceMap.get(request.instanceId);
    if (!instance) throw new Error(`InvalidInstanceID.NotFound: ${request.instanceId}`);
    if ([...this.images.values()].some((i) => i.name === request.name))
      throw new Error(`InvalidAMIName.Duplicate: AMI name ${request.name} is already in use`);
    const imageId = anId('snap').replace('snap-', 'ami-');
    const imaged = instance.volumes.filter((v) => !request.excludeDeviceNames.includes(v.deviceName));
    const snapshots = imaged.map((v) => {
      const snapshotId = anId('snap');
      this.ec2.snapshots.set(snapshotId, {
        snapshotId,
        volumeId: v.volumeId,
        state: 'completed',
        tags: this.tagSnapshots ? { ...request.tags } : {},
        description: `Created by CreateImage(${request.instanceId}) for ${imageId}`,
        startedAt: this.ec2.clock.now().toISOString(),
        ownerId: FAKE_ACCOUNT,
      });
      return { deviceName: v.deviceName, snapshotId, state: 'completed' as const };
    });
    this.images.set(imageId, {
      imageId,
      name: request.name,
      instanceId: request.instanceId,
      tags: { ...request.tags },
      snapshots,
      createdAt: this.ec2.clock.now().toISOString(),
      ownerId: FAKE_ACCOUNT,
    });
    await this.faults.after('createImage', request);
    return imageId;
  }

  async imageSnapshots(imageId: string): Promise<ImageSnapshot[]> {
    this.calls.push({ operation: 'imageSnapshots', request: imageId });
    await this.faults.before('imageSnapshots', imageId);
    if (this.unlistedDescribes > 0) {
      this.unlistedDescribes -= 1;
      return [];
    }
    return structuredClone(this.images.get(imageId)?.snapshots ?? []);
  }

  async imagesOfGeneration(generationId: string): Promise<GenerationImage[]> {
    this.calls.push({ operation: 'imagesOfGeneration', request: generationId });
    await this.faults.before('imagesOfGeneration', generationId);
    return [...this.images.values()]
      .filter((i) => i.tags[TAG.generation] === generationId && i.tags[TAG.managed] === 'true')
      .map((i) => ({
        imageId: i.imageId,
        instanceId: i.tags[TAG.sourceInstance],
        sourceInstanceId: i.instanceId,
        ownerId: i.ownerId ?? FAKE_ACCOUNT,
        createdAt: i.createdAt ?? this.ec2.clock.now().toISOString(),
        snapshots: this.unlistedDescribes > 0 ? [] : structuredClone(i.snapshots),
        ...(i.tags[TAG.mark] ? { mark: i.tags[TAG.mark] } : {}),
      }));
  }

  async deprecate(imageId: string, at: string): Promise<void> {
    this.calls.push({ operation: 'deprecate', request: { imageId, at } });
    await this.faults.before('deprecate', imageId);
    const image = this.images.get(imageId);
    if (image) image.deprecateAt = at;
  }

  count(operation: keyof ImageRequests): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }
}
