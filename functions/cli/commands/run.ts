import { isFailedTarget } from '#core/backup/results.ts';
import { type RunReport, runSchedule } from '#core/backup/run.ts';
import { findSchedule } from '#core/config/config.ts';
import { assertOccurrence, checkOccurrence, previousRunAt } from '#core/config/occurrence.ts';
import { type Job, runMetrics } from '#handlers/metrics.ts';
import { runDeps } from '#wiring';
import {
  type Cli,
  type CommonOptions,
  clockFrom,
  markKeyParameterOf,
  PartialFailure,
  queueUrlOf,
} from '../command.ts';
import { formatRun } from '../format.ts';
import { isoTime, nonNegativeInt } from '../options.ts';

/** `snapkeeper run`: one scheduled run, through the same core as the scheduled-run Lambda. */
export function runCommand(cli: Cli): void {
  cli
    .command('run')
    .requiredOption('-p, --policy <name>', 'policy name')
    .requiredOption('-s, --schedule <name>', 'schedule name within the policy')
    .option(
      '--at <time>',
      "the run's scheduledAt (ISO-8601), an occurrence of the schedule; default its latest occurrence at or before now",
      isoTime,
    )
    .option(
      '--claim-wait <seconds>',
      "how long to wait for another delivery's claim on a target to be recorded or to end before reporting the target missed; default until its lease ends (at most 15 minutes)",
      nonNegativeInt,
    )
    .action(
      cli.act<CommonOptions & { policy: string; schedule: string; at?: string; claimWait?: number }>(
        async (config, options, clients) => {
          const { schedule } = findSchedule(config, options.policy, options.schedule);
          const scheduledAt = runTime(schedule, options.at);
          const throttledBefore = clients.throttles.absorbed;
          const report = await runSchedule(
            { policy: options.policy, schedule: options.schedule, scheduledAt },
            runDeps({
              config,
              clients,
              clock: clockFrom(options.at),
              log: cli.log(options),
              copyQueueUrl: await queueUrlOf(config, clients),
              markKeyParameter: markKeyParameterOf(),
              ...(options.claimWait === undefined ? {} : { maxClaimWaitMs: options.claimWait * 1000 }),
            }),
          );
          return runOutput(report, clients.throttles.absorbed - throttledBefore, 'scheduled-run');
        },
      ),
    );
}

/**
 * What `run` and `backup` print: the report with the throttled calls the SDK absorbed, and as text the run's
 * figures under the names of the metrics the Lambdas publish. A failed target makes the command exit 1.
 */
export function runOutput<R extends RunReport>(
  report: R,
  throttledCallsAbsorbed: number,
  job: Job,
): [unknown, string] {
  const text = formatRun(report, runMetrics(report, throttledCallsAbsorbed, job));
  const output = { ...report, throttledCallsAbsorbed };
  if (report.results.some(isFailedTarget)) throw new PartialFailure(output, text);
  return [output, text];
}

/**
 * The scheduled time a CLI run uses: `--at` when it is an occurrence of the schedule (retention counts runs by
 * it, so an invented time would push a real backup out), else the latest occurrence at or before now. A
 * `rate(...)` schedule has no phase the CLI can know, so it takes `--at` or now as given.
 */
function runTime(
  schedule: Parameters<typeof checkOccurrence>[0] & { name: string },
  at: string | undefined,
): string {
  if (at) {
    assertOccurrence(schedule, new Date(at), '--at');
    return at;
  }
  const now = new Date();
  if (!checkOccurrence(schedule, now).evaluated) return now.toISOString();
  const latest = checkOccurrence(schedule, now).onSchedule ? now : previousRunAt(schedule, now);
  return (latest ?? now).toISOString();
}
