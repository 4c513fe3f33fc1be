// Synthesizes the real app (infra/define-app.ts, the cdk.json context) for the infra tests.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Config } from '#core/config/config.ts';
import { CONFIG_FILE_CONTEXT, defineApp, manifestStackOf } from '../../infra/define-app.ts';
import type { ManifestBucketStack } from '../../infra/manifest-bucket.ts';
import type { SnapkeeperStack } from '../../infra/snapkeeper-stack.ts';
import type { TemplateJson } from './iam/roles.ts';

export const repoRoot = new URL('../../', import.meta.url);
export const repoConfigFile = new URL('snapkeeper.config.json', repoRoot).pathname;

/** The context of cdk.json, so tests see the feature flags `cdk synth` sees. */
const cdkContext = JSON.parse(readFileSync(new URL('cdk.json', repoRoot), 'utf8')).context as Record<
  string,
  unknown
>;

export interface Synthesized {
  stack: SnapkeeperStack;
  template: Template;
  /** The manifest bucket's stack, when the config names `manifests`. */
  manifests?: { stack: ManifestBucketStack; template: Template };
}

const synthesized = new Map<string, Synthesized>();

/** Synthesizes the app for a config file, bundling the Lambdas with esbuild as `cdk synth` does (seconds, so
 * each file is synthesized once per test file). */
export function synthesize(configFile: string): Synthesized {
  let result = synthesized.get(configFile);
  if (!result) {
    const app = new App({ context: { ...cdkContext, [CONFIG_FILE_CONTEXT]: configFile } });
    const stack = defineApp(app);
    const manifests = manifestStackOf(app);
    result = {
      stack,
      template: Template.fromStack(stack),
      ...(manifests ? { manifests: { stack: manifests, template: Template.fromStack(manifests) } } : {}),
    };
    synthesized.set(configFile, result);
  }
  return result;
}

/** Bundling two Lambdas with esbuild takes several seconds. */
export const SYNTH_TIMEOUT_MS = 120_000;

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every statement of every IAM policy in the template, with the logical id of the policy. */
export function policyStatements(template: Template): Array<Statement & { policy: string }> {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.entries(policies).flatMap(([policy, resource]) =>
    (resource.Properties.PolicyDocument.Statement as Statement[]).map((statement) => ({
      ...statement,
      policy,
    })),
  );
}

export const actionsOf = (statement: Statement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

/** A statement's resources as text, pseudo parameters and all, for matching on ARN shapes. */
export const resourcesOf = (statement: Statement): string[] =>
  (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map((resource) =>
    typeof resource === 'string' ? resource : JSON.stringify(resource),
  );

/** An app with cdk.json's context that does not bundle the Lambdas: for tests that do not read the code. */
export function unbundledApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { ...cdkContext, ...context, 'aws:cdk:bundling-stacks': [] } });
}

const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-synth-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const synthesizedConfigs = new Map<string, TemplateJson>();

/**
 * The template of the app for a configuration given as an object, without bundling the Lambdas (an empty
 * `aws:cdk:bundling-stacks`): for tests of roles and resources, which do not read the code. About a second.
 */
export function templateFor(config: Config): TemplateJson {
  const text = JSON.stringify(config);
  let template = synthesizedConfigs.get(text);
  if (!template) {
    const file = join(scratch, `config-${synthesizedConfigs.size}.json`);
    writeFileSync(file, text);
    const app = unbundledApp({ [CONFIG_FILE_CONTEXT]: file });
    template = Template.fromStack(defineApp(app)).toJSON() as TemplateJson;
    synthesizedConfigs.set(text, template);
  }
  return template;
}
