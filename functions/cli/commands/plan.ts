import { plan } from '#core/lifecycle/plan.ts';
import { planDeps } from '#wiring';
import { type Cli, type CommonOptions, checkPolicy } from '../command.ts';
import { formatPlan } from '../format.ts';
import { isoTime } from '../options.ts';

/** `snapkeeper plan`: what the next runs would do, changing nothing. */
export function planCommand(cli: Cli): void {
  cli
    .command(
      'plan',
      'what the next run of each schedule would snapshot, copy and prune, and tag problems; changes nothing',
    )
    .option('-p, --policy <name>', 'only this policy')
    .option('--at <time>', 'plan as of this time (ISO-8601); default now', isoTime)
    .action(
      cli.act<CommonOptions & { policy?: string; at?: string }>(async (config, options, clients) => {
        checkPolicy(config, options.policy);
        const result = await plan(planDeps({ config, clients }), { policy: options.policy, at: options.at });
        return [result, formatPlan(result)];
      }),
    );
}
