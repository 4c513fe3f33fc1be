import { parseRestoreInstanceRequest, restoreInstance } from '#core/recovery/restore-instance.ts';
import { restoreInstanceDeps } from '#wiring';
import type { Cli, CommonOptions } from '../command.ts';
import { flagSpelling, withFlags } from '../flags.ts';
import { formatRestoreInstance } from '../format.ts';
import { isoTime } from '../options.ts';

type RestoreInstanceOptions = CommonOptions & {
  instance?: string;
  generation?: string;
  at?: string;
  toRegion?: string;
  subnet?: string;
  instanceType?: string;
  securityGroups?: string;
  keyName?: string;
  instanceProfile?: string;
  force: boolean;
  requestId?: string;
  dryRun: boolean;
};

/** The restore-instance request's fields as `snapkeeper restore-instance` spells them. */
export const RESTORE_INSTANCE_FLAGS = flagSpelling({
  instanceId: '--instance',
  generationId: '--generation',
  region: '--to-region',
  subnetId: '--subnet',
  securityGroupIds: '--security-groups',
});

/** `snapkeeper restore-instance`: the restore-instance runbook, as its Lambda runs it. */
export function restoreInstanceCommand(cli: Cli): void {
  cli
    .command('restore-instance')
    .option(
      '--instance <id>',
      'source instance: launch its newest completed AMI generation at or before --at',
    )
    .option('--generation <id>', 'launch this generation instead (with --instance, that member of a group)')
    .option('--at <time>', 'point in time (ISO-8601); default now', isoTime)
    .option(
      '--to-region <region>',
      'launch in this copy Region, from the DR copies; default the primary Region',
    )
    .option('--subnet <id>', "subnet to launch in; default the source instance's (primary Region only)")
    .option('--instance-type <type>', "instance type; default the source instance's")
    .option(
      '--security-groups <ids>',
      "comma-separated security group ids of the subnet's VPC; default the source instance's",
    )
    .option('--key-name <name>', "key pair; default the source instance's")
    .option('--instance-profile <name|arn>', "IAM instance profile; default the source instance's")
    .option('--force', 'launch from a deprecated AMI anyway', false)
    .option('--request-id <id>', 'the same request id twice launches once; default a new id')
    .option('--dry-run', 'check everything RunInstances and CreateVolume would, launch nothing', false)
    .action(
      cli.act<RestoreInstanceOptions>(async (config, options, clients) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const result = await withFlags(RESTORE_INSTANCE_FLAGS, () =>
          restoreInstance(
            parseRestoreInstanceRequest({
              instanceId: options.instance,
              generationId: options.generation,
              at: options.at,
              region: options.toRegion,
              subnetId: options.subnet,
              instanceType: options.instanceType,
              securityGroupIds: options.securityGroups,
              keyName: options.keyName,
              instanceProfile: options.instanceProfile,
              force: options.force,
              requestId: options.requestId,
              dryRun: options.dryRun,
            }),
            restoreInstanceDeps({ config, clients, log: cli.log(options) }, actor),
          ),
        );
        return [result, formatRestoreInstance(result)];
      }),
    );
}
