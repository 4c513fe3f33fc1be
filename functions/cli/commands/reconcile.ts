import { reconcileDryRun } from '#core/lifecycle/dry-run.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { reconcileMetrics } from '#handlers/metrics.ts';
import { reconcileDeps } from '#wiring';
import { type Cli, type CommonOptions, clockFrom, markKeyParameterOf, queueUrlOf } from '../command.ts';
import { formatReconcile, formatReconcileDryRun } from '../format.ts';
import { isoTime } from '../options.ts';

/** `snapkeeper reconcile`: one pass of the reconcile Lambda's work. */
export function reconcileCommand(cli: Cli): void {
  cli
    .command('reconcile')
    .option('--at <time>', 'the simulated time of this pass (ISO-8601); default now', isoTime)
    .option(
      '--dry-run',
      'show what the pass would advance, copy, prune and hold, each with its reason, and change nothing',
      false,
    )
    .action(
      cli.act<CommonOptions & { at?: string; dryRun: boolean }>(async (config, options, clients) => {
        const deps = reconcileDeps({
          config,
          clients,
          clock: clockFrom(options.at),
          log: cli.log(options),
          copyQueueUrl: await queueUrlOf(config, clients),
          markKeyParameter: markKeyParameterOf(),
        });
        if (options.dryRun) {
          const planned = await reconcileDryRun(deps);
          return [planned, formatReconcileDryRun(planned)];
        }
        const throttledBefore = clients.throttles.absorbed;
        const report = await reconcile(deps);
        const throttledCallsAbsorbed = clients.throttles.absorbed - throttledBefore;
        return [
          { ...report, throttledCallsAbsorbed },
          formatReconcile(report, reconcileMetrics(report, throttledCallsAbsorbed)),
        ];
      }),
    );
}
