import { Option } from 'commander';
import { InputError } from '#core/model/errors.ts';
import { parseRestoreRequest, restoreVolume } from '#core/recovery/restore.ts';
import { restoreDeps } from '#wiring';
import type { Cli, CommonOptions } from '../command.ts';
import { formatRestore } from '../format.ts';
import { isoTime, positiveInt } from '../options.ts';

type RestoreOptions = CommonOptions & {
  volume?: string;
  generation?: string;
  az: string;
  at?: string;
  region?: string;
  volumeType?: string;
  iops?: number;
  throughput?: number;
  kmsKeyId?: string;
  idempotencyToken?: string;
  dryRun: boolean;
  fromManifests: boolean;
};

/** `snapkeeper restore`: the restore-volume runbook, as the restore-volume Lambda runs it. */
export function restoreCommand(cli: Cli): void {
  cli
    .command('restore', 'restore-volume runbook: a new volume from a generation, waited until available')
    .option('--volume <id>', 'source volume: restore its newest completed generation at or before --at')
    .option('--generation <id>', 'restore this generation instead')
    .requiredOption('--az <zone>', 'Availability Zone for the new volume')
    .option('--at <time>', 'point in time (ISO-8601); default now', isoTime)
    .option('--region <region>', 'restore in this Region (a DR copy); default the primary Region')
    .addOption(
      new Option('--volume-type <type>', 'volume type').choices([
        'gp2',
        'gp3',
        'io1',
        'io2',
        'st1',
        'sc1',
        'standard',
      ]),
    )
    .option('--iops <n>', 'provisioned IOPS', positiveInt)
    .option('--throughput <n>', 'throughput in MiB/s (gp3)', positiveInt)
    .option('--kms-key-id <key>', 'encrypt the new volume with this KMS key')
    .option('--idempotency-token <token>', 'a retry with the same token returns the same volume')
    .option('--dry-run', 'resolve everything, create nothing', false)
    .option(
      '--from-manifests',
      'find the generation in the manifests (the catalog is unreachable); the audit entry goes to the log',
      false,
    )
    .action(
      cli.act<RestoreOptions>(async (config, options, clients) => {
        if (!options.volume && !options.generation) {
          throw new InputError(
            'give --volume <id> (its newest generation at or before --at) or --generation <id>',
          );
        }
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const result = await restoreVolume(
          parseRestoreRequest({
            volumeId: options.volume,
            generationId: options.generation,
            at: options.at,
            availabilityZone: options.az,
            region: options.region,
            volumeType: options.volumeType,
            iops: options.iops,
            throughput: options.throughput,
            kmsKeyId: options.kmsKeyId,
            idempotencyToken: options.idempotencyToken,
            dryRun: options.dryRun,
          }),
          restoreDeps({ config, clients, log: cli.log(options) }, actor, {
            fromManifests: options.fromManifests,
          }),
        );
        return [result, formatRestore(result)];
      }),
    );
}
