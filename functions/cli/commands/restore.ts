import { Option } from 'commander';
import { copyRegions } from '#core/config/config.ts';
import { parseRestoreRequest, restoreVolume } from '#core/recovery/restore.ts';
import { VOLUME_TYPES } from '#core/recovery/volume-options.ts';
import { restoreDeps } from '#wiring';
import type { Cli, CommonOptions } from '../command.ts';
import { refuseRenamedRegion } from '../conventions.ts';
import { flagSpelling, withFlags } from '../flags.ts';
import { formatRestore } from '../format.ts';
import { isoTime, positiveInt } from '../options.ts';

type RestoreOptions = CommonOptions & {
  volume?: string;
  generation?: string;
  az: string;
  at?: string;
  toRegion?: string;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  size?: number;
  initializationRate?: number;
  kmsKeyId?: string;
  idempotencyToken?: string;
  dryRun: boolean;
  fromManifests: boolean;
};

/** The restore-volume request's fields as `snapkeeper restore` spells them. */
export const RESTORE_FLAGS = flagSpelling({
  volumeId: '--volume',
  generationId: '--generation',
  availabilityZone: '--az',
  sizeGiB: '--size',
  region: '--to-region',
});

/** `snapkeeper restore`: the restore-volume runbook, as the restore-volume Lambda runs it. */
export function restoreCommand(cli: Cli): void {
  cli
    .command('restore')
    .option('--volume <id>', 'source volume: restore its newest completed generation at or before --at')
    .option('--generation <id>', 'restore this generation instead')
    .requiredOption('--az <zone>', 'Availability Zone for the new volume')
    .option('--at <time>', 'point in time (ISO-8601); default now', isoTime)
    .option(
      '--to-region <region>',
      'restore in this copy Region (from its DR copy); default the primary Region',
    )
    .addOption(
      new Option('--volume-type <type>', 'volume type; default the source volume’s').choices(VOLUME_TYPES),
    )
    .option('--iops <n>', 'provisioned IOPS (required for io1 and io2)', positiveInt)
    .option('--throughput <n>', 'throughput in MiB/s (gp3)', positiveInt)
    .option('--size <GiB>', 'size of the new volume; at least the snapshot’s', positiveInt)
    .option(
      '--initialization-rate <MiB/s>',
      'EBS provisioned rate for volume initialization, 100-300 MiB/s: a predictable time to full performance',
      positiveInt,
    )
    .option('--kms-key-id <key>', 'encrypt the new volume with this KMS key')
    .option('--idempotency-token <token>', 'a retry with the same token returns the same volume')
    .option('--dry-run', 'resolve and check everything CreateVolume would, create nothing', false)
    .option(
      '--from-manifests',
      'find the generation in the manifests (the catalog is unreachable); the audit entry goes to the log',
      false,
    )
    .action(
      cli.act<RestoreOptions>(async (config, options, clients) => {
        refuseRenamedRegion(options.region, copyRegions(config), '--to-region');
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const result = await withFlags(RESTORE_FLAGS, () =>
          restoreVolume(
            parseRestoreRequest({
              volumeId: options.volume,
              generationId: options.generation,
              at: options.at,
              availabilityZone: options.az,
              region: options.toRegion,
              volumeType: options.volumeType,
              iops: options.iops,
              throughput: options.throughput,
              sizeGiB: options.size,
              initializationRate: options.initializationRate,
              kmsKeyId: options.kmsKeyId,
              idempotencyToken: options.idempotencyToken,
              dryRun: options.dryRun,
            }),
            restoreDeps({ config, clients, log: cli.log(options) }, actor, {
              fromManifests: options.fromManifests,
            }),
          ),
        );
        return [result, formatRestore(result)];
      }),
    );
}
