import type { InitializeHandlerArguments, InitializeMiddleware, Pluggable } from '@smithy/types';
import type { Faults, Shape } from './faults.ts';

/**
 * Where the emulator fails a request AWS accepts, the test harness (never product code) bends the request:
 * - moto's `CreateImage` answers HTTP 500 when `TagSpecifications` include `snapshot`, which AWS needs to tag
 *   an AMI's snapshots at creation. The snapshot specification is removed before the request is serialized,
 *   and the original input is kept in `createImageInputs` so tests check what the product really sent.
 * - moto does not implement `EnableImageDeprecation` (HTTP 500); it is answered as AWS answers it.
 */
export class EmulatorWorkarounds {
  /** Every `CreateImage` input as the product built it, before the snapshot tags were removed. */
  readonly createImageInputs: Shape[] = [];

  constructor(faults: Faults) {
    faults.respond('EnableImageDeprecation', () => ({ Return: true }));
  }

  pluggable(): Pluggable<object, object> {
    const middleware: InitializeMiddleware<object, object> = (next, context) => async (args) => {
      if (context.commandName !== 'CreateImageCommand') return next(args);
      const input = args.input as Shape;
      this.createImageInputs.push(structuredClone(input));
      const specs = (input.TagSpecifications ?? []) as { ResourceType?: string }[];
      const bent: InitializeHandlerArguments<object> = {
        ...args,
        input: { ...input, TagSpecifications: specs.filter((s) => s.ResourceType !== 'snapshot') },
      };
      return next(bent);
    };
    return {
      applyToStack: (stack) => {
        stack.add(middleware, { step: 'initialize', name: 'snapkeeperEmulatorWorkarounds', override: true });
      },
    };
  }
}
