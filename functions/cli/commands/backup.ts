import { randomUUID } from 'node:crypto';
import { backUpOnDemand } from '#core/backup/on-demand.ts';
import { backupDeps } from '#wiring';
import { type Cli, type CommonOptions, queueUrlOf } from '../command.ts';
import { runOutput } from './run.ts';

/** `snapkeeper backup`: an on-demand backup of a policy's targets, through the same core as the backup Lambda. */
export function backupCommand(cli: Cli): void {
  cli
    .command('backup')
    .requiredOption('-p, --policy <name>', 'policy name')
    .option(
      '-t, --target <id>',
      'only this instance, volume or group:<name> of the policy; default all of them',
    )
    .option(
      '--request-id <id>',
      'makes a retried command one backup: the same id again finds the backup it made; default a new id',
    )
    .action(
      cli.act<CommonOptions & { policy: string; target?: string; requestId?: string }>(
        async (config, options, clients) => {
          const throttledBefore = clients.throttles.absorbed;
          // No --at: an on-demand backup is dated by the clock, never by the caller.
          const report = await backUpOnDemand(
            {
              policy: options.policy,
              requestId: options.requestId ?? randomUUID(),
              ...(options.target ? { targetId: options.target } : {}),
            },
            backupDeps({
              config,
              clients,
              log: cli.log(options),
              copyQueueUrl: await queueUrlOf(config, clients),
            }),
          );
          return runOutput(report, clients.throttles.absorbed - throttledBefore, 'backup');
        },
      ),
    );
}
