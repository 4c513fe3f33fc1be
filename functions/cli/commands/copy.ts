import { copyRegions } from '#core/config/config.ts';
import { retryCopy } from '#core/copies/queue.ts';
import { InputError } from '#core/model/errors.ts';
import { copyWorkerDeps } from '#wiring';
import {
  type Cli,
  type CommonOptions,
  clockFrom,
  markKeyParameterOf,
  PartialFailure,
  queueUrlOf,
} from '../command.ts';
import { refuseRenamedRegion } from '../conventions.ts';
import { pumpCopyQueue } from '../copy-pump.ts';
import { formatCopy } from '../format.ts';
import { isoTime, nonNegativeInt, positiveInt } from '../options.ts';

type CopyOptions = CommonOptions & {
  at?: string;
  maxDelay: number;
  rounds: number;
  retry?: string;
  copyRegion?: string;
};

/** `snapkeeper copy`: works the DR copy queue as the copy-worker Lambda does. */
export function copyCommand(cli: Cli): void {
  cli
    .command('copy')
    .option('--at <time>', 'the simulated time of this pass (ISO-8601); default now', isoTime)
    .option(
      '--max-delay <seconds>',
      'cap how long a waiting copy is delayed in the queue; 0 retries it in this command at once (the sandbox)',
      nonNegativeInt,
      900,
    )
    .option('--rounds <n>', 'receive rounds at most (10 messages each)', positiveInt, 50)
    .option(
      '--retry <generation>',
      "queue a generation's failed copy again (with --copy-region), then work the queue",
    )
    .option('--copy-region <region>', 'the copy Region, with --retry')
    .action(
      cli.act<CopyOptions>(async (config, options, clients) => {
        refuseRenamedRegion(options.region, copyRegions(config), '--copy-region');
        const url = await queueUrlOf(config, clients);
        if (!url) throw new InputError('no policy in the config has copies; there is nothing to copy');
        if (options.copyRegion && !options.retry)
          throw new InputError('--copy-region goes with --retry <generation>');
        if (options.retry && !options.copyRegion)
          throw new InputError('--retry needs --copy-region <the copy Region>');
        const deps = copyWorkerDeps(
          {
            config,
            clients,
            clock: clockFrom(options.at),
            log: cli.log(options),
            markKeyParameter: markKeyParameterOf(),
          },
          url,
        );
        if (options.retry && options.copyRegion) await retryCopy(deps, options.retry, options.copyRegion);
        const report = await pumpCopyQueue(clients.sqs(config.region), url, deps, {
          maxDelaySeconds: options.maxDelay,
          maxRounds: options.rounds,
        });
        const text = formatCopy(report);
        if (report.failed.length > 0) throw new PartialFailure(report, text);
        return [report, text];
      }),
    );
}
