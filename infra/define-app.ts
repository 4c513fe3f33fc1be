import { type App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfigFileSync } from './config-file.ts';
import { SnapkeeperStack } from './snapkeeper-stack.ts';

/** The context key naming the configuration file; `cdk.json` sets it, `-c snapkeeper:configFile=…` overrides. */
export const CONFIG_FILE_CONTEXT = 'snapkeeper:configFile';
const DEFAULT_CONFIG_FILE = 'snapkeeper.config.json';

/**
 * Builds the snapkeeper app: reads the configuration named by the context, creates the stack in the configured
 * Region and runs the cdk-nag AWS Solutions checks over everything. `infra/app.ts` and the tests share it.
 */
export function defineApp(app: App): SnapkeeperStack {
  const configFile =
    (app.node.tryGetContext(CONFIG_FILE_CONTEXT) as string | undefined) ?? DEFAULT_CONFIG_FILE;
  const config = readConfigFileSync(configFile);
  const stack = new SnapkeeperStack(app, 'Snapkeeper', {
    config,
    description: 'snapkeeper: tag-driven EBS backup automation',
    env: { region: config.region, account: process.env.CDK_DEFAULT_ACCOUNT },
  });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}
