import type { Config } from '#core/config/config.ts';
import { InputError } from '#core/model/errors.ts';
import { asListed, listGenerations } from '#core/recovery/generation-list.ts';
import { ManifestCatalog } from '#core/recovery/manifests.ts';
import { catalogFor, requiredManifests } from '#wiring';
import { type Cli, type CommonOptions, checkPolicy } from '../command.ts';
import { refuseRenamedRegion } from '../conventions.ts';
import { formatGenerations } from '../format.ts';
import { positiveInt } from '../options.ts';

type GenerationsOptions = CommonOptions & {
  volume?: string;
  instance?: string;
  policy?: string;
  limit: number;
  fromManifests: boolean;
  manifestsRegion?: string;
};

/**
 * Whether `generations` reads the manifests: with --from-manifests, or with --manifests-region naming the
 * manifest Region (the primary Region reads the catalog; any other Region has nothing to read).
 */
function readsManifests(config: Config, options: GenerationsOptions): boolean {
  refuseRenamedRegion(
    options.region,
    config.manifests ? [config.manifests.region] : [],
    '--manifests-region',
  );
  const region = options.manifestsRegion;
  if (options.fromManifests || !region || region === config.region) return options.fromManifests;
  if (region === config.manifests?.region) return true;
  throw new InputError(
    `--manifests-region ${region}: generations are listed from the catalog in ${config.region}${config.manifests ? ` or from the manifests in ${config.manifests.region}` : ' (the config has no "manifests" key)'}`,
  );
}

/** `snapkeeper generations`: lists generations from the catalog or the manifests. */
export function generationsCommand(cli: Cli): void {
  cli
    .command('generations')
    .option('--volume <id>', 'generations holding a snapshot of this volume')
    .option('--instance <id>', 'generations of this instance')
    .option('-p, --policy <name>', 'generations of this policy')
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .option('--from-manifests', 'read the manifests in the manifest Region, not the catalog', false)
    .option(
      '--manifests-region <region>',
      'the manifest Region reads the manifests (as --from-manifests); the primary Region reads the catalog',
    )
    .action(
      cli.act<GenerationsOptions>(async (config, options, clients) => {
        const filters = [options.volume, options.instance].filter(Boolean).length;
        if (filters > 1) throw new InputError('give at most one of --volume and --instance');
        const catalog = readsManifests(config, options)
          ? new ManifestCatalog(requiredManifests(config, clients), cli.log(options))
          : catalogFor(config, clients);
        if (!options.volume && !options.instance) checkPolicy(config, options.policy);
        const generations = await listGenerations(catalog, {
          volume: options.volume,
          instance: options.instance,
          policy: options.policy,
          policies: options.policy ? [options.policy] : config.policies.map((p) => p.name),
          limit: options.limit,
        });
        const listed = generations.map(asListed);
        return [listed, formatGenerations(listed, cli.terminal)];
      }),
    );
}
