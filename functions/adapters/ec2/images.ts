import {
  CreateImageCommand,
  DescribeImagesCommand,
  type EC2Client,
  EnableImageDeprecationCommand,
  type Image,
  paginateDescribeImages,
} from '@aws-sdk/client-ec2';
import type { GenerationImage, ImageService, ImageSnapshot } from '#core/backup/ports.ts';
import type { SnapshotState } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { createCall, ec2Call, generationFilters, tagList, tagsOf } from './snapshots.ts';

const IMAGE_STATES: Record<string, SnapshotState> = {
  available: 'completed',
  failed: 'error',
  error: 'error',
};

/** AMIs of instances, taken without a reboot (the freeze, not a reboot, is what makes them consistent). */
export class Ec2ImageService implements ImageService {
  /** `creates` makes the AMIs (`AwsClients.ec2Creates`: it never retries an ambiguous failure). */
  constructor(
    private readonly ec2: EC2Client,
    private readonly creates: EC2Client = ec2,
  ) {}

  createImage(request: Parameters<ImageService['createImage']>[0]): Promise<string> {
    return createCall('CreateImage', async () => {
      const tags = tagList(request.tags);
      const response = await this.creates.send(
        new CreateImageCommand({
          InstanceId: request.instanceId,
          Name: request.name,
          Description: request.description,
          NoReboot: true,
          // NoDevice leaves a data volume out of the image: the AMI is the boot volume.
          BlockDeviceMappings: request.excludeDeviceNames.map((DeviceName) => ({ DeviceName, NoDevice: '' })),
          // The AMI and the snapshots behind it are both born tagged as ours.
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      if (!response.ImageId) throw new Error('CreateImage returned no image id');
      return response.ImageId;
    });
  }

  imageSnapshots(imageId: string): Promise<ImageSnapshot[]> {
    return ec2Call('DescribeImages', async () => {
      const image = (await this.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
      return snapshotsOf(image);
    });
  }

  imagesOfGeneration(generationId: string): Promise<GenerationImage[]> {
    return ec2Call('DescribeImages', async () => {
      const found: GenerationImage[] = [];
      const input = { Owners: ['self'], Filters: generationFilters(generationId) };
      for await (const page of paginateDescribeImages({ client: this.ec2 }, input)) {
        for (const image of page.Images ?? []) {
          if (!image.ImageId) continue;
          const tags = tagsOf(image.Tags);
          const instanceId = tags[TAG.sourceInstance];
          const mark = tags[TAG.mark];
          found.push({
            imageId: image.ImageId,
            ...(instanceId ? { instanceId } : {}),
            ...(image.SourceInstanceId ? { sourceInstanceId: image.SourceInstanceId } : {}),
            ownerId: image.OwnerId ?? '',
            createdAt: image.CreationDate ?? '',
            snapshots: snapshotsOf(image),
            ...(mark ? { mark } : {}),
          });
        }
      }
      return found;
    });
  }

  async deprecate(imageId: string, at: string): Promise<void> {
    await ec2Call('EnableImageDeprecation', () =>
      this.ec2.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: new Date(at) })),
    );
  }
}

/** The snapshots behind an image, by device. They complete with it: the image state is theirs. */
export function snapshotsOf(image: Image | undefined): ImageSnapshot[] {
  const state = IMAGE_STATES[image?.State ?? ''] ?? 'pending';
  return (image?.BlockDeviceMappings ?? []).flatMap((mapping) =>
    mapping.Ebs?.SnapshotId
      ? [{ deviceName: mapping.DeviceName ?? '', snapshotId: mapping.Ebs.SnapshotId, state }]
      : [],
  );
}
