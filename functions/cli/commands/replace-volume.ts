import { parseReplaceRequest, replaceVolume } from '#core/recovery/replace.ts';
import { replaceDeps } from '#wiring';
import type { Cli, CommonOptions } from '../command.ts';
import { flagSpelling, withFlags } from '../flags.ts';
import { formatReplace } from '../format.ts';
import { isoTime } from '../options.ts';

type ReplaceOptions = CommonOptions & {
  volume: string;
  at?: string;
  generation?: string;
  requestId?: string;
  dryRun: boolean;
};

/** The replace-volume request's fields as `snapkeeper replace-volume` spells them. */
export const REPLACE_FLAGS = flagSpelling({ volumeId: '--volume', generationId: '--generation' });

/** `snapkeeper replace-volume`: the replace-volume runbook, as its Lambda runs it. */
export function replaceVolumeCommand(cli: Cli): void {
  cli
    .command('replace-volume')
    .requiredOption('--volume <id>', 'the attached volume to replace')
    .option(
      '--at <time>',
      'restore its newest completed generation at or before this time (ISO-8601); default now',
      isoTime,
    )
    .option('--generation <id>', 'restore this generation of the volume instead')
    .option('--request-id <id>', 'the same request id twice does the work once; default a new id')
    .option('--dry-run', 'check everything and print the plan; change nothing', false)
    .action(
      cli.act<ReplaceOptions>(async (config, options, clients) => {
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const result = await withFlags(REPLACE_FLAGS, () =>
          replaceVolume(
            parseReplaceRequest({
              volumeId: options.volume,
              at: options.at,
              generationId: options.generation,
              requestId: options.requestId,
              dryRun: options.dryRun,
            }),
            replaceDeps({ config, clients, log: cli.log(options) }, actor),
          ),
        );
        return [result, formatReplace(result)];
      }),
    );
}
