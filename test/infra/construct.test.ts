// The construct as a user's own CDK app uses it: `new SnapKeeper(stack, 'Backups', { configFile })` or
// `{ config }` in a stack of their own, and every way those props can be wrong.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFileSync } from '#core/config/config.ts';
import { ConfigError } from '#core/model/errors.ts';
import { SnapKeeper, type SnapKeeperProps } from '../../infra/snapkeeper-construct.ts';
import { repoConfigFile, SYNTH_TIMEOUT_MS, unbundledApp } from './synth.ts';

const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-construct-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const repoConfig = JSON.parse(readFileSync(repoConfigFile, 'utf8'));

function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** A user's stack holding the construct, as their app would build it; `null`: a stack naming no Region. */
function userStack(props: SnapKeeperProps, region: string | null = 'us-east-1') {
  const app = unbundledApp();
  const stack = new Stack(app, 'Backups', region ? { env: { region, account: '123456789012' } } : {});
  const snapkeeper = new SnapKeeper(stack, 'Backups', props);
  return { stack, snapkeeper };
}

/** The error building the construct throws, for assertions on its type and text. */
function refusal(props: SnapKeeperProps, region?: string): Error {
  try {
    userStack(props, region);
  } catch (error) {
    return error as Error;
  }
  throw new Error('the construct accepted the props');
}

describe('the SnapKeeper construct in a user app', () => {
  it(
    'builds the same template from configFile (JSON or YAML) as from the same config as an object',
    () => {
      const fromJson = Template.fromStack(userStack({ configFile: repoConfigFile }).stack).toJSON();
      const fromYaml = Template.fromStack(
        userStack({ configFile: file('snapkeeper.config.yaml', stringify(repoConfig)) }).stack,
      ).toJSON();
      const fromObject = Template.fromStack(userStack({ config: repoConfig }).stack).toJSON();
      expect(Object.keys(fromJson.Resources).length).toBeGreaterThan(20);
      expect(fromYaml).toEqual(fromJson);
      expect(fromObject).toEqual(fromJson);
    },
    SYNTH_TIMEOUT_MS,
  );

  it('exposes the validated config, defaults applied, and the catalog named by it', () => {
    const { stack, snapkeeper } = userStack({ configFile: repoConfigFile });
    expect(snapkeeper.config).toEqual(loadConfigFileSync(repoConfigFile));
    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: repoConfig.catalog.table,
    });
  });

  it('refuses neither config nor configFile, and both, naming the two props', () => {
    const neither = refusal({});
    expect(neither).toBeInstanceOf(ConfigError);
    expect(neither.message).toContain("new SnapKeeper(…, 'Backups')");
    expect(neither.message).toContain('pass exactly one of `config`');
    expect(neither.message).toContain('`configFile`');
    expect(neither.message).toContain('neither was given');
    const both = refusal({ config: repoConfig, configFile: repoConfigFile });
    expect(both).toBeInstanceOf(ConfigError);
    expect(both.message).toContain('both were given');
  });

  it('refuses a configFile that does not exist, naming the path it looked at and the prop to fix', () => {
    const error = refusal({ configFile: 'no-such-dir/snapkeeper.config.json' });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('no-such-dir/snapkeeper.config.json: config file not found');
    expect(error.message).toContain(
      `looked for ${join(process.cwd(), 'no-such-dir/snapkeeper.config.json')}`,
    );
    expect(error.message).toContain("the construct's `configFile`");
  });

  it('refuses a configFile of another type, naming the file and the accepted extensions', () => {
    const path = file('snapkeeper.config.toml', 'region = "us-east-1"');
    expect(refusal({ configFile: path }).message).toBe(
      `${path}: unsupported file type ".toml"; use a .json, .yaml or .yml config file`,
    );
  });

  it('refuses a configFile with a bad field, naming the file and the key', () => {
    const bad = structuredClone(repoConfig);
    bad.policies[0].schedules[0].expression = 'every hour';
    const path = file('bad.config.json', JSON.stringify(bad));
    const error = refusal({ configFile: path });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(new RegExp(`^${path}: policies\\[0\\]\\.schedules\\[0\\]\\.expression: `));
  });

  it('refuses a config object with a bad field, naming the prop and the key', () => {
    const error = refusal({ config: { ...repoConfig, catalog: {} } });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain("new SnapKeeper(…, 'Backups') config: catalog.table: ");
  });

  it("refuses a config whose region is not the stack's, naming both and the two fixes", () => {
    const error = refusal({ configFile: repoConfigFile }, 'eu-west-1');
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      `${repoConfigFile}: region: is "us-east-1" but the stack deploys to eu-west-1; set the stack's \`env.region\` to "us-east-1", or the config's \`region\` to "eu-west-1"`,
    );
  });

  it("warns that a stack naming no Region must be deployed to the config's", () => {
    const { stack } = userStack({ configFile: repoConfigFile }, null);
    Annotations.fromStack(stack).hasWarning(
      '/Backups/Backups',
      Match.stringLikeRegexp("deploy it only to the config's region, us-east-1"),
    );
  });
});

type Resource = { Type: string; Properties: Record<string, unknown> };

describe('log retention', () => {
  /** Each Lambda's log group (`LoggingConfig.LogGroup`) with its retention in days. */
  function retentionOfEachFunction(stack: Stack): number[] {
    const template = Template.fromStack(stack).toJSON();
    const resources = template.Resources as Record<string, Resource>;
    const functions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(4);
    return functions.map((fn) => {
      const { LogGroup } = fn.Properties.LoggingConfig as { LogGroup: { Ref: string } };
      return resources[LogGroup.Ref]?.Properties.RetentionInDays as number;
    });
  }

  it("keeps every Lambda's logs three months unless told otherwise", () => {
    const retentions = retentionOfEachFunction(userStack({ configFile: repoConfigFile }).stack);
    expect(new Set(retentions)).toEqual(new Set([RetentionDays.THREE_MONTHS]));
  });

  it("applies logRetention to every Lambda's log group, those of the copy worker and the runbooks too", () => {
    const { stack } = userStack({ configFile: repoConfigFile, logRetention: RetentionDays.TWO_YEARS });
    const retentions = retentionOfEachFunction(stack);
    expect(new Set(retentions)).toEqual(new Set([RetentionDays.TWO_YEARS]));
    Template.fromStack(stack).allResources('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Retain',
      Properties: { RetentionInDays: RetentionDays.TWO_YEARS },
    });
  });
});
