import { plan } from '#core/lifecycle/plan.ts';
import { planDeps } from '#wiring';
import { type Cli, type CommonOptions, checkPolicy, PartialFailure } from '../command.ts';
import { formatPlan } from '../format.ts';
import { isoTime } from '../options.ts';

type PlanOptions = CommonOptions & { policy?: string; at?: string; failOnProblems: boolean };

/** `snapkeeper plan`: what the next runs would do, changing nothing. */
export function planCommand(cli: Cli): void {
  cli
    .command('plan')
    .option('-p, --policy <name>', 'only this policy')
    .option('--at <time>', 'plan as of this time (ISO-8601); default now', isoTime)
    .option(
      '--fail-on-problems',
      'exit 1 when the plan lists problems (to gate CI), printing it still',
      false,
    )
    .action(
      cli.act<PlanOptions>(async (config, options, clients) => {
        checkPolicy(config, options.policy);
        const result = await plan(planDeps({ config, clients }), { policy: options.policy, at: options.at });
        const text = formatPlan(result);
        if (options.failOnProblems && result.problems.length > 0) throw new PartialFailure(result, text);
        return [result, text];
      }),
    );
}
