import { reconcile } from '#core/lifecycle/reconcile.ts';
import { reconcileMetrics } from '#handlers/metrics.ts';
import { reconcileDeps } from '#wiring';
import { type Cli, type CommonOptions, clockFrom, markKeyParameterOf, queueUrlOf } from '../command.ts';
import { formatReconcile } from '../format.ts';
import { isoTime } from '../options.ts';

/** `snapkeeper reconcile`: one pass of the reconcile Lambda's work. */
export function reconcileCommand(cli: Cli): void {
  cli
    .command(
      'reconcile',
      'advance pending generations, queue missing DR copies, apply retention in every Region, and prune',
    )
    .option('--at <time>', 'the simulated time of this pass (ISO-8601); default now', isoTime)
    .action(
      cli.act<CommonOptions & { at?: string }>(async (config, options, clients) => {
        const throttledBefore = clients.throttles.absorbed;
        const report = await reconcile(
          reconcileDeps({
            config,
            clients,
            clock: clockFrom(options.at),
            log: cli.log(options),
            copyQueueUrl: await queueUrlOf(config, clients),
            markKeyParameter: markKeyParameterOf(),
          }),
        );
        const throttledCallsAbsorbed = clients.throttles.absorbed - throttledBefore;
        return [
          { ...report, throttledCallsAbsorbed },
          formatReconcile(report, reconcileMetrics(report, throttledCallsAbsorbed)),
        ];
      }),
    );
}
