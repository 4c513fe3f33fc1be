import { rebuildCatalog } from '#core/recovery/manifests.ts';
import { catalogFor, requiredManifests } from '#wiring';
import type { Cli, CommonOptions } from '../command.ts';
import { formatRebuild } from '../format.ts';

/** `snapkeeper rebuild-catalog`: catalog records recreated from the manifests. */
export function rebuildCatalogCommand(cli: Cli): void {
  cli
    .command('rebuild-catalog')
    .option('--dry-run', 'count what would be imported, write nothing', false)
    .action(
      cli.act<CommonOptions & { dryRun: boolean }>(async (config, options, clients) => {
        const report = await rebuildCatalog(
          {
            manifests: requiredManifests(config, clients),
            catalog: catalogFor(config, clients),
            log: cli.log(options),
          },
          { dryRun: options.dryRun },
        );
        return [report, formatRebuild(report)];
      }),
    );
}
