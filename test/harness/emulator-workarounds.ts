import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { InitializeHandlerArguments, InitializeMiddleware, Pluggable } from '@smithy/types';
import { type CallContext, type FaultRule, type Faults, type Shape, signingRegion } from './faults.ts';

interface TagSpecification {
  ResourceType?: string;
  Tags?: Tag[];
}

/**
 * Where the emulator fails a request AWS accepts, the test harness (never product code) bends the request:
 * - moto's `CreateImage` answers HTTP 500 when `TagSpecifications` include `snapshot`, which AWS needs to tag
 *   an AMI's snapshots at creation. The snapshot specification is removed before the request is serialized,
 *   and the original input is kept in `createImageInputs` so tests check what the product really sent. Once
 *   moto has answered, the snapshot tags (the mark among them) are written on the snapshot it lists behind the
 *   new AMI, as for `CopyImage` below. moto's AMI snapshot is of a scratch volume, not the instance's root
 *   volume (its `VolumeId` names a volume that no longer exists), which EC2 never does.
 * - moto does not implement `EnableImageDeprecation` (HTTP 500); it is answered as AWS answers it.
 * - moto's `CopyImage` ignores `TagSpecifications`: the copied AMI comes back untagged. Once moto has answered,
 *   the requested `image` tags are written on the new AMI with `CreateTags`, and the `snapshot` tags on the
 *   snapshots it lists that exist in the destination Region, through a plain client the fault layer does not see.
 *   Each input is kept in `copyImageInputs`. The AMI is briefly untagged between the two calls, which AWS never is.
 * - moto's `CopyImage` ignores `ClientToken`: every call makes another AMI. A rule on the fault layer answers a
 *   repeated token in the same Region with the AMI the first call made (recorded as `synthesized`), without a
 *   second copy, or with `IdempotentParameterMismatch` when the request differs, as AWS does. Construct the
 *   workarounds before adding other rules, so that answer comes before any rule that counts copies.
 */
export class EmulatorWorkarounds {
  /** Every `CreateImage` input as the product built it, before the snapshot tags were removed. */
  readonly createImageInputs: Shape[] = [];
  /** Every `CopyImage` input as the product built it, in the order sent (idempotent repeats included). */
  readonly copyImageInputs: Shape[] = [];
  private readonly clients = new Map<string, EC2Client>();
  private readonly tagged = new Set<string>();

  constructor(faults: Faults) {
    faults.respond('EnableImageDeprecation', () => ({ Return: true }));
    faults.use(copyImageIdempotency());
  }

  pluggable(): Pluggable<object, object> {
    const middleware: InitializeMiddleware<object, object> = (next, context) => async (args) => {
      if (context.commandName === 'CreateImageCommand') {
        const result = await next(this.bentCreateImage(args));
        const imageId = (result.output as Shape).ImageId as string | undefined;
        const region = signingRegion(context);
        const specs = ((args.input as Shape).TagSpecifications ?? []) as TagSpecification[];
        if (imageId && region) await this.tagImage(region, imageId, specs);
        return result;
      }
      if (context.commandName !== 'CopyImageCommand') return next(args);
      const input = args.input as Shape;
      this.copyImageInputs.push(structuredClone(input));
      const result = await next(args);
      const imageId = (result.output as Shape).ImageId as string | undefined;
      const region = signingRegion(context);
      if (imageId && region && !this.tagged.has(imageId)) {
        this.tagged.add(imageId);
        await this.tagImage(region, imageId, (input.TagSpecifications ?? []) as TagSpecification[]);
      }
      return result;
    };
    return {
      applyToStack: (stack) => {
        stack.add(middleware, { step: 'initialize', name: 'snapkeeperEmulatorWorkarounds', override: true });
      },
    };
  }

  private bentCreateImage(args: InitializeHandlerArguments<object>): InitializeHandlerArguments<object> {
    const input = args.input as Shape;
    this.createImageInputs.push(structuredClone(input));
    const specs = (input.TagSpecifications ?? []) as TagSpecification[];
    return {
      ...args,
      input: { ...input, TagSpecifications: specs.filter((s) => s.ResourceType !== 'snapshot') },
    };
  }

  /** Writes the requested `image` and `snapshot` tags on an AMI moto made and on the snapshots it lists. */
  private async tagImage(region: string, imageId: string, specs: TagSpecification[]): Promise<void> {
    const tagsFor = (type: string) => specs.find((s) => s.ResourceType === type)?.Tags ?? [];
    const ec2 = this.ec2(region);
    if (tagsFor('image').length > 0) {
      await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: tagsFor('image') }));
    }
    if (tagsFor('snapshot').length === 0) return;
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    const listed = (image?.BlockDeviceMappings ?? []).flatMap((m) =>
      m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [],
    );
    if (listed.length === 0) return;
    // moto may list the source Region's snapshots; only those that exist here can be tagged here.
    const here = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [{ Name: 'snapshot-id', Values: listed }],
      }),
    );
    const ids = (here.Snapshots ?? []).flatMap((s) => (s.SnapshotId ? [s.SnapshotId] : []));
    if (ids.length > 0) await ec2.send(new CreateTagsCommand({ Resources: ids, Tags: tagsFor('snapshot') }));
  }

  private ec2(region: string): EC2Client {
    let client = this.clients.get(region);
    if (!client) {
      client = new EC2Client({ region, maxAttempts: 1 });
      this.clients.set(region, client);
    }
    return client;
  }
}

/** The fault-layer half of `CopyImage` idempotency: what each token got, per Region. */
function copyImageIdempotency(): FaultRule {
  const answered = new Map<string, { imageId: string; request: string }>();
  const keyOf = (call: CallContext) =>
    typeof call.input.ClientToken === 'string' ? `${call.region}:${call.input.ClientToken}` : undefined;
  // The parameters that make two CopyImage requests the same copy.
  const requestOf = (input: Shape) =>
    JSON.stringify([input.SourceRegion, input.SourceImageId, input.Name, input.KmsKeyId ?? null]);
  return {
    actions: ['CopyImage'],
    before: (call) => {
      const key = keyOf(call);
      const seen = key ? answered.get(key) : undefined;
      if (!seen) return undefined;
      if (seen.request !== requestOf(call.input)) {
        return {
          error: {
            name: 'IdempotentParameterMismatch',
            // EC2's errors page describes the error so; its exact message was not available to check.
            message: 'The request uses the same client token as a previous, but non-identical request.',
            httpStatusCode: 400,
          },
        };
      }
      return { output: { ImageId: seen.imageId } };
    },
    after: (output, call) => {
      const key = keyOf(call);
      if (key && !answered.has(key) && typeof output.ImageId === 'string') {
        answered.set(key, { imageId: output.ImageId, request: requestOf(call.input) });
      }
      return output;
    },
  };
}
