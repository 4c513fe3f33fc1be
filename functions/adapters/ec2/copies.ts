import {
  CopyImageCommand,
  CopySnapshotCommand,
  type EC2Client,
  paginateDescribeImages,
  paginateDescribeSnapshots,
} from '@aws-sdk/client-ec2';
import type { AwsClients } from '#adapters/clients.ts';
import { isThrottling } from '#adapters/throttling.ts';
import type { ImageSnapshot } from '#core/backup/ports.ts';
import type { CopyService, FoundCopy } from '#core/copies/ports.ts';
import { AwsOperationError, type CopyRefusal, CopyRefusedError } from '#core/model/errors.ts';
import type { SnapshotState } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { snapshotsOf } from './images.ts';
import { describeSnapshotsById, ec2Call, generationFilters, tagList, tagsOf } from './snapshots.ts';

/**
 * Errors that mean "the destination Region's copy quota is full now", waited out rather than failed.
 * - `ResourceLimitExceeded`: EC2's error list gives "too many snapshot copies in progress" as its example
 *   (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), and the quota behind it is
 *   "Concurrent snapshot copies per destination Region", 20 by default and not adjustable
 *   (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html). The snapshots behind an AMI copy
 *   count towards it too, so `CopyImage` meets the same error.
 * - `ConcurrentSnapshotLimitExceeded`: the per-volume pending-snapshot limit (same errors page); not documented for
 *   copies, but it clears by waiting all the same.
 * `SnapshotLimitExceeded` (snapshots per Region) is deliberately not here: waiting does not clear it, so it is a
 * refusal an operator has to see.
 */
const LIMIT_ERRORS = new Set(['ResourceLimitExceeded', 'ConcurrentSnapshotLimitExceeded']);

/** Client errors about the moment, not the request (expired credentials or signature): retried later. */
const TRANSIENT_CLIENT_ERRORS = new Set(['RequestExpired', 'ExpiredToken', 'RequestTimeout']);

interface SdkErrorShape {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * Why EC2 would not start a copy, or undefined when the failure says nothing about the request: a server error or
 * a failure without an HTTP answer (timeout, reset), which the caller retries later as an `AwsOperationError`.
 * Throttling that reaches here has already outlasted the SDK's own retries.
 */
export function copyRefusal(error: unknown): CopyRefusal | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name = '', $fault, $metadata } = error as SdkErrorShape;
  if (LIMIT_ERRORS.has(name)) return 'limit';
  if (isThrottling(error)) return 'throttled';
  const status = $metadata?.httpStatusCode;
  if (status === undefined || status >= 500 || $fault === 'server' || TRANSIENT_CLIENT_ERRORS.has(name)) {
    return undefined;
  }
  // Everything else EC2 answers with a 4xx is about this request: InvalidSnapshot.NotFound, InvalidAMIID.*,
  // a KMS key that is disabled or not granted (the codes vary by case), UnauthorizedOperation,
  // SnapshotCopyUnsupported.InterRegion, IdempotentParameterMismatch. Retrying will not change the answer.
  return 'refused';
}

async function startCopy(operation: string, call: () => Promise<string | undefined>): Promise<string> {
  let id: string | undefined;
  try {
    id = await call();
  } catch (error) {
    const refusal = copyRefusal(error);
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    if (refusal) throw new CopyRefusedError(refusal, `${operation}: ${name}: ${message}`, { cause: error });
    throw new AwsOperationError(operation, `${name}: ${message}`, { cause: error });
  }
  if (!id) throw new AwsOperationError(operation, 'EC2 answered without the id of the copy');
  return id;
}

type ImageCopyState = 'pending' | 'available' | 'failed';

/** Image states as the copy record sees them; undefined for an image that, for us, no longer exists. */
function imageState(state: string | undefined): ImageCopyState | undefined {
  switch (state) {
    case 'available':
      return 'available';
    case 'deregistered':
      return undefined;
    // An image EC2 gave up on, or one someone disabled: not usable as it stands either way.
    case 'failed':
    case 'error':
    case 'invalid':
    case 'disabled':
      return 'failed';
    default:
      return 'pending'; // pending, transient, and any state EC2 adds later until it settles
  }
}

/** `recovering` (back from the Recycle Bin) and states EC2 may add later count as not yet usable. */
function snapshotState(state: string | undefined): SnapshotState {
  return state === 'completed' || state === 'error' ? state : 'pending';
}

/**
 * Cross-Region copies of snapshots and AMIs. Each call is made with the destination Region's client: that is
 * where EC2 runs a copy and where it counts the copy against the Region's quota.
 */
export class Ec2CopyService implements CopyService {
  constructor(private readonly clients: AwsClients) {}

  copySnapshot(request: Parameters<CopyService['copySnapshot']>[0]): Promise<string> {
    return startCopy('CopySnapshot', async () => {
      const response = await this.ec2(request.region).send(
        new CopySnapshotCommand({
          SourceRegion: request.sourceRegion,
          SourceSnapshotId: request.sourceSnapshotId,
          Description: request.description,
          // Encrypted is what makes EC2 use KmsKeyId for an unencrypted source; without a key the copy keeps
          // the source's encryption (or the Region's encryption by default).
          ...(request.kmsKeyId ? { Encrypted: true, KmsKeyId: request.kmsKeyId } : {}),
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(request.tags) }],
        }),
      );
      return response.SnapshotId;
    });
  }

  copyImage(request: Parameters<CopyService['copyImage']>[0]): Promise<string> {
    return startCopy('CopyImage', async () => {
      const tags = tagList(request.tags);
      const response = await this.ec2(request.region).send(
        new CopyImageCommand({
          ClientToken: request.clientToken,
          Name: request.name,
          SourceImageId: request.sourceImageId,
          SourceRegion: request.sourceRegion,
          ...(request.kmsKeyId ? { Encrypted: true, KmsKeyId: request.kmsKeyId } : {}),
          // The copied AMI and the snapshots behind it are both born tagged as ours, so a worker that dies after
          // this call leaves copies that `copiesOfGeneration` finds.
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      return response.ImageId;
    });
  }

  async copiesOfGeneration(
    region: string,
    generationId: string,
  ): Promise<{ snapshots: FoundCopy[]; images: FoundCopy[] }> {
    const ec2 = this.ec2(region);
    const filters = generationFilters(generationId);
    const [snapshots, images] = await Promise.all([
      ec2Call('DescribeSnapshots', async () => {
        const found: FoundCopy[] = [];
        const input = { OwnerIds: ['self'], Filters: filters };
        for await (const page of paginateDescribeSnapshots({ client: ec2 }, input)) {
          for (const snapshot of page.Snapshots ?? []) {
            // Without its source tag a snapshot is not a copy (an AMI's snapshot, or one of the primary's
            // snapshots when the DR Region is also a primary Region).
            const sourceId = tagsOf(snapshot.Tags)[TAG.sourceSnapshot];
            if (!sourceId || !snapshot.SnapshotId) continue;
            found.push({ sourceId, id: snapshot.SnapshotId, state: snapshotState(snapshot.State) });
          }
        }
        return found;
      }),
      ec2Call('DescribeImages', async () => {
        const found: FoundCopy[] = [];
        const input = { Owners: ['self'], Filters: filters };
        for await (const page of paginateDescribeImages({ client: ec2 }, input)) {
          for (const image of page.Images ?? []) {
            const sourceId = tagsOf(image.Tags)[TAG.sourceImage];
            const state = imageState(image.State);
            if (!sourceId || !image.ImageId || !state) continue;
            found.push({ sourceId, id: image.ImageId, state });
          }
        }
        return found;
      }),
    ]);
    return { snapshots, images };
  }

  async snapshotStates(region: string, snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>> {
    const found = await describeSnapshotsById(this.ec2(region), snapshotIds);
    return new Map(found.map((snapshot) => [snapshot.SnapshotId ?? '', snapshotState(snapshot.State)]));
  }

  image(
    region: string,
    imageId: string,
  ): Promise<{ state: ImageCopyState; snapshots: ImageSnapshot[] } | undefined> {
    const ec2 = this.ec2(region);
    return ec2Call('DescribeImages', async () => {
      // A filter, not ImageIds: an image deregistered by hand is simply absent instead of an error.
      const input = { Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] };
      for await (const page of paginateDescribeImages({ client: ec2 }, input)) {
        const image = page.Images?.find((i) => i.ImageId === imageId);
        const state = imageState(image?.State);
        if (image && state) {
          return { state, snapshots: snapshotsOf(image) };
        }
      }
      return undefined;
    });
  }

  private ec2(region: string): EC2Client {
    return this.clients.ec2(region);
  }
}
