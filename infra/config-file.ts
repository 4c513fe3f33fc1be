import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Config, parseConfigText } from '#core/config/config.ts';

/**
 * Reads and validates a snapkeeper configuration file synchronously, because a CDK app builds its constructs
 * synchronously. The format follows the extension: `.yaml`/`.yml` is YAML, anything else JSON. A bad file
 * throws the same `ConfigError` the CLI and the Lambdas report, naming the offending key.
 */
export function readConfigFileSync(path: string): Config {
  const extension = extname(path).toLowerCase();
  const format = extension === '.yaml' || extension === '.yml' ? 'yaml' : 'json';
  return parseConfigText(readFileSync(path, 'utf8'), format, path);
}
