import type { Config } from '#core/config/config.ts';
import type { Cli, CommonOptions } from '../command.ts';
import { plural } from '../format.ts';

/** What `validate` says of a valid config. */
export interface Validation {
  valid: true;
  /** The Region the other commands would work in (`--region`, else the config's). */
  region: string;
  policies: { name: string; targets: string; schedules: string[]; copiesTo: string[] }[];
}

/**
 * `snapkeeper validate`: the config alone, as `custodian validate` does; no AWS call. A bad config exits 2 with
 * every problem on its own line, through the same parse every command and the stack use.
 */
export function validateCommand(cli: Cli): void {
  cli.command('validate').action(
    cli.act<CommonOptions>(async (config) => {
      const validation = validationOf(config);
      return [validation, describe(validation)];
    }),
  );
}

function validationOf(config: Config): Validation {
  return {
    valid: true,
    region: config.region,
    policies: config.policies.map((p) => ({
      name: p.name,
      targets: p.targets,
      schedules: p.schedules.map((s) => s.name),
      copiesTo: p.copies.map((c) => c.region),
    })),
  };
}

function describe(validation: Validation): string {
  const lines = [
    `The config is valid: ${plural(validation.policies.length, 'policy', 'policies')} in ${validation.region}`,
  ];
  for (const p of validation.policies) {
    const copies = p.copiesTo.length > 0 ? `, copied to ${p.copiesTo.join(', ')}` : '';
    lines.push(
      `  ${p.name} (${p.targets}): ${plural(p.schedules.length, 'schedule')} ${p.schedules.join(', ')}${copies}`,
    );
  }
  return lines.join('\n');
}
