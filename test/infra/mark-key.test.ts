import { beforeAll, describe, expect, it } from 'vitest';
import { markKeySecretName, stackMarkKeyParameter } from '#adapters/mark-key.ts';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import {
  actionsOf,
  policyStatements,
  repoConfigFile,
  resourcesOf,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  synthesize,
} from './synth.ts';

// The mark key in the stack: a generated secret, kept when the stack goes, that exactly the Lambdas which create
// or delete backups may read, each told where it is.

let config: Config;
let synthesized: Synthesized;

beforeAll(async () => {
  config = await loadConfigFile(repoConfigFile);
  synthesized = synthesize(repoConfigFile);
}, SYNTH_TIMEOUT_MS);

describe('the mark key of the stack', () => {
  it('is a generated Secrets Manager secret, named from the catalog table and retained', () => {
    const secrets = Object.values(synthesized.template.findResources('AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(1);
    expect(secrets[0]).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        Name: markKeySecretName(config.catalog.table),
        GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false },
      },
    });
  });

  it('is readable by the runs (scheduled and on-demand), reconcile and the copy worker alone, and by name, never any other secret', () => {
    const name = markKeySecretName(config.catalog.table);
    const reads = policyStatements(synthesized.template).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('secretsmanager:') || a === 'ssm:GetParameter'),
    );
    const roles = (action: string) =>
      reads
        .filter((s) => actionsOf(s).includes(action))
        .map((s) => s.policy.replace(/RoleDefaultPolicy.*$/, ''))
        .sort();
    const copies = config.policies.some((p) => p.copies.length > 0);
    const expected = [
      expect.stringMatching(/Backup/),
      ...(copies ? [expect.stringMatching(/Worker/)] : []),
      expect.stringMatching(/Reconcile/),
      expect.stringMatching(/ScheduledRun/),
    ];
    expect(roles('secretsmanager:GetSecretValue')).toEqual(expected);
    expect(roles('ssm:GetParameter')).toEqual(expected);
    for (const statement of reads) {
      expect(actionsOf(statement)).toHaveLength(1);
      const [resource] = resourcesOf(statement);
      expect(resourcesOf(statement)).toHaveLength(1);
      expect(resource).toMatch(
        actionsOf(statement)[0] === 'ssm:GetParameter'
          ? `:parameter/aws/reference/secretsmanager/${name}"`
          : `:secret:${name}-??????"`,
      );
    }
  });

  it('tells exactly those Lambdas where the key is', () => {
    const functions = synthesized.template.findResources('AWS::Lambda::Function');
    const told = Object.entries(functions)
      .filter(([, fn]) => fn.Properties.Environment.Variables.SNAPKEEPER_MARK_KEY_PARAMETER)
      .map(([id, fn]) => [id, fn.Properties.Environment.Variables.SNAPKEEPER_MARK_KEY_PARAMETER]);
    const copies = config.policies.some((p) => p.copies.length > 0);
    // The scheduled run, the on-demand backup, reconcile, and the copy worker when anything is copied.
    expect(told).toHaveLength(copies ? 4 : 3);
    expect(told.map(([id]) => id).join(' ')).not.toMatch(/RestoreVolume/);
    for (const [, parameter] of told) expect(parameter).toBe(stackMarkKeyParameter(config.catalog.table));
    expect(synthesized.template.findOutputs('MarkKeyParameter')).toMatchObject({
      MarkKeyParameter: { Value: stackMarkKeyParameter(config.catalog.table) },
    });
  });
});
