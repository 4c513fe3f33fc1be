import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { RestoreDeps } from '#core/recovery/restore.ts';
import {
  namesWhatToRestore,
  RESTORE_VOLUME,
  restoreVolume,
  restoreVolumeFields,
} from '#core/recovery/restore.ts';
import { restoreDeps } from '#wiring';
import { lambdaConfig, lambdaLog } from './lambda.ts';
import { runbookHandler } from './runbook.ts';

/**
 * The runbook's request plus where to find the generation: `fromManifests: true` reads the manifests in the
 * manifest Region when the catalog is unreachable (its table deleted or damaged), as the CLI's `--from-manifests`.
 */
export const RestoreVolumeEventSchema = z
  .strictObject({ ...restoreVolumeFields, fromManifests: z.boolean().default(false) })
  .refine(...namesWhatToRestore);

export type RestoreVolumeEvent = z.input<typeof RestoreVolumeEventSchema>;

/** The restore-volume runbook (SPEC §6) as a Lambda: `aws lambda invoke` with the request as the payload. */
export function createRestoreVolumeHandler(
  deps: (context: Context, options: { fromManifests: boolean }) => RestoreDeps,
) {
  return runbookHandler(RESTORE_VOLUME, RestoreVolumeEventSchema, ({ fromManifests, ...request }, context) =>
    // An async invocation retried by Lambda keeps its request id, so the retry finds the same volume.
    restoreVolume({ idempotencyToken: context.awsRequestId, ...request }, deps(context, { fromManifests })),
  );
}

export const handler = createRestoreVolumeHandler((context, options) =>
  restoreDeps({ config: lambdaConfig(), log: lambdaLog }, `lambda:${context.invokedFunctionArn}`, options),
);
