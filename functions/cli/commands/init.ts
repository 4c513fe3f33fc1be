import type { Cli } from '../command.ts';
import { formatInit } from '../format.ts';
import { ensureSandbox } from '../sandbox-setup.ts';

/** `snapkeeper init`: the catalog table, manifest bucket, copy queue and mark key the config names, where missing. */
export function initCommand(cli: Cli): void {
  cli.command('init').action(
    cli.act(async (config, _options, clients) => {
      const steps = await ensureSandbox(config, clients);
      return [{ steps }, formatInit(steps)];
    }),
  );
}
