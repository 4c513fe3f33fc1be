import { type App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfigFileSync } from '#core/config/config.ts';
import { ManifestBucketStack } from './manifest-bucket.ts';
import { SnapkeeperStack } from './snapkeeper-stack.ts';

/** The context key naming the configuration file; `cdk.json` sets it, `-c snapkeeper:configFile=…` overrides. */
export const CONFIG_FILE_CONTEXT = 'snapkeeper:configFile';
const DEFAULT_CONFIG_FILE = 'snapkeeper.config.json';

/** The id of the stack that holds the manifest bucket, in the manifest Region. */
export const MANIFEST_STACK_ID = 'SnapkeeperManifests';

/**
 * Builds the snapkeeper app: reads the configuration named by the context, creates the stack in the configured
 * Region and, when the config names `manifests`, the manifest bucket's own stack in the manifest Region (deployed
 * first), and runs the cdk-nag AWS Solutions checks over everything. `infra/app.ts` and the tests share it.
 */
export function defineApp(app: App): SnapkeeperStack {
  const configFile =
    (app.node.tryGetContext(CONFIG_FILE_CONTEXT) as string | undefined) ?? DEFAULT_CONFIG_FILE;
  // Read here only for the Regions of the two stacks; the construct reads the file itself, as in a user's app.
  const config = loadConfigFileSync(configFile, `-c ${CONFIG_FILE_CONTEXT}=<file>`);
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const stack = new SnapkeeperStack(app, 'Snapkeeper', {
    configFile,
    description: 'snapkeeper: tag-driven EBS backup automation',
    env: { region: config.region, account },
  });
  if (config.manifests) {
    const manifests = new ManifestBucketStack(app, MANIFEST_STACK_ID, {
      bucketName: config.manifests.bucket,
      description: 'snapkeeper: the manifest bucket, in the manifest (DR) Region',
      env: { region: config.manifests.region, account },
    });
    // Only an order: the main stack refers to the bucket by its name, never across Regions by reference.
    stack.addDependency(manifests);
  }
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return stack;
}

/** The manifest bucket's stack of an app built by `defineApp`, when the config names `manifests`. */
export function manifestStackOf(app: App): ManifestBucketStack | undefined {
  return app.node.tryFindChild(MANIFEST_STACK_ID) as ManifestBucketStack | undefined;
}
