import { Annotations, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type Config, type ConfigInput, loadConfigFileSync, parseConfig } from '#core/config/config.ts';
import { ConfigError } from '#core/model/errors.ts';

/** Where a construct's configuration comes from: exactly one of the two. */
export interface ConfigSource {
  readonly config?: ConfigInput;
  readonly configFile?: string;
}

/**
 * The validated configuration of a `SnapKeeper` construct, read at synth: from `configFile` through the CLI's own
 * loader (same formats, same errors naming the file and the key), or `config` through the same schema. Refuses
 * both or neither, and a config whose `region` is not the stack's: the Lambdas work in the config's Region, so a
 * stack elsewhere would put the catalog where they never look.
 */
export function constructConfig(scope: Construct, source: ConfigSource): Config {
  const subject = `new SnapKeeper(…, '${scope.node.id}')`;
  const given = [source.config, source.configFile].filter((value) => value !== undefined).length;
  if (given !== 1) {
    const message = `pass exactly one of \`config\` (the configuration object) and \`configFile\` (the path of a snapkeeper.config.json or .yaml); ${given === 0 ? 'neither was' : 'both were'} given`;
    throw new ConfigError([{ path: '', message }], subject);
  }
  const config =
    source.configFile !== undefined
      ? loadConfigFileSync(source.configFile, "the construct's `configFile`")
      : parseConfig(source.config, `${subject} config`);
  const { region } = Stack.of(scope);
  if (Token.isUnresolved(region)) {
    Annotations.of(scope).addWarningV2(
      'snapkeeper:envAgnostic',
      `the stack names no Region; deploy it only to the config's region, ${config.region} (or set the stack's \`env.region\`)`,
    );
  } else if (region !== config.region) {
    const message = `is "${config.region}" but the stack deploys to ${region}; set the stack's \`env.region\` to "${config.region}", or the config's \`region\` to "${region}"`;
    throw new ConfigError([{ path: 'region', message }], source.configFile ?? `${subject} config`);
  }
  return config;
}
