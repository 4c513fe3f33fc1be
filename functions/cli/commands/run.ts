import { runSchedule } from '#core/backup/run.ts';
import { findSchedule } from '#core/config/config.ts';
import { runDeps } from '#wiring';
import { type Cli, type CommonOptions, clockFrom, PartialFailure, queueUrlOf } from '../command.ts';
import { formatRun } from '../format.ts';
import { isoTime } from '../options.ts';

/** `snapkeeper run`: one scheduled run, through the same core as the scheduled-run Lambda. */
export function runCommand(cli: Cli): void {
  cli
    .command('run', 'one scheduled run of a policy schedule, through the same code as the Lambda')
    .requiredOption('-p, --policy <name>', 'policy name')
    .requiredOption('-s, --schedule <name>', 'schedule name within the policy')
    .option('--at <time>', "the run's scheduledAt (ISO-8601); default now", isoTime)
    .action(
      cli.act<CommonOptions & { policy: string; schedule: string; at?: string }>(
        async (config, options, clients) => {
          findSchedule(config, options.policy, options.schedule);
          const scheduledAt = options.at ?? new Date().toISOString();
          const report = await runSchedule(
            { policy: options.policy, schedule: options.schedule, scheduledAt },
            runDeps({
              config,
              clients,
              clock: clockFrom(options.at),
              log: cli.log(options),
              copyQueueUrl: await queueUrlOf(config, clients),
            }),
          );
          const text = formatRun(report);
          if (report.results.some((r) => r.outcome === 'failed')) throw new PartialFailure(report, text);
          return [report, text];
        },
      ),
    );
}
