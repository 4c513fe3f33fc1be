import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '#core/config/config.ts';
import { InputError } from '#core/model/errors.ts';
import { regionProblem } from '#core/model/regions.ts';

/**
 * The conventions every command shares with aws-cli: where the config is found, which Region is talked to, which
 * profile signs, the version. Each decision is one function here, so `--help`, the docs and the tests agree.
 */

/** The files `--config` defaults to, the first one present winning; the first is the default when none is. */
export const CONFIG_LOOKUP = ['snapkeeper.config.json', 'snapkeeper.config.yaml', 'snapkeeper.config.yml'];

/** The config file a command reads: `--config` when given, else the first of `CONFIG_LOOKUP` in `cwd`. */
export function configPath(flag: string | undefined, cwd = process.cwd()): string {
  if (flag) return flag;
  const found = CONFIG_LOOKUP.find((name) => existsSync(join(cwd, name)));
  return `./${found ?? CONFIG_LOOKUP[0]}`;
}

/**
 * The config with `region` the Region the command talks to: `--region` when given, else the config's `region`.
 * `AWS_REGION` (or `AWS_DEFAULT_REGION`) does not move a command away from the Region its catalog, schedules and
 * tagged resources live in, but a different one is said on stderr through `warn`, never ignored silently.
 */
export function talkingTo(
  config: Config,
  flag: string | undefined,
  env: Record<string, string | undefined>,
  warn: (line: string) => void,
): Config {
  if (flag !== undefined) {
    const problem = regionProblem(flag);
    if (problem) throw new InputError(`--region: ${problem}`);
    return { ...config, region: flag };
  }
  const ambient = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (ambient && ambient !== config.region) {
    const name = env.AWS_REGION ? 'AWS_REGION' : 'AWS_DEFAULT_REGION';
    warn(
      `snapkeeper: working in ${config.region} (the config's region), not ${ambient} (${name}); pass --region ${ambient} to work there\n`,
    );
  }
  return config;
}

/**
 * The old meaning of `--region` on a command that now names it otherwise: a value only that meaning could have
 * (a copy Region, the manifest Region) is refused, naming the new flag, so an old script never runs against
 * the wrong Region.
 */
export function refuseRenamedRegion(
  region: string | undefined,
  oldMeaning: readonly string[],
  renamed: string,
) {
  if (region !== undefined && oldMeaning.includes(region)) {
    throw new InputError(
      `--region ${region}: on this command --region was renamed to ${renamed}; --region is now the Region every command works in (the catalog's); write ${renamed} ${region}`,
    );
  }
}

/** The shared config and credentials files the SDK reads, as it finds them. */
function sharedFiles(env: Record<string, string | undefined>): string[] {
  return [
    env.AWS_CONFIG_FILE || join(homedir(), '.aws', 'config'),
    env.AWS_SHARED_CREDENTIALS_FILE || join(homedir(), '.aws', 'credentials'),
  ];
}

/** The profile names a shared file defines: `[profile x]` in the config file, `[x]` in either. */
function profilesIn(path: string): string[] {
  if (!existsSync(path)) return [];
  return [...readFileSync(path, 'utf8').matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)].map(
    (m) => m[1] ?? '',
  );
}

/** `--profile`: the profile must be in one of the files the SDK reads; an unknown one is named with those files. */
export function checkProfile(name: string, env: Record<string, string | undefined> = process.env): string {
  const files = sharedFiles(env);
  const known = [...new Set(files.flatMap(profilesIn))];
  if (known.includes(name)) return name;
  throw new InputError(
    `--profile ${name}: no such profile in ${files.join(' or ')}${known.length > 0 ? ` (profiles there: ${known.join(', ')})` : ' (neither defines any)'}; add it with aws configure --profile ${name}, or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE`,
  );
}

/** The version in snapkeeper's own package.json, found upwards from this module (sources or a build alike). */
export function cliVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (!existsSync(path)) continue;
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'snapkeeper' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

/** Whether to write ANSI colours: to a terminal only, and never with `NO_COLOR` set (no-color.org). */
export function colorsOn(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined> = process.env,
): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR;
}
