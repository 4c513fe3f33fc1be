import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  copiesForSchedule,
  findSchedule,
  loadConfigFile,
  parseConfig,
  parseConfigText,
} from '#core/config/config.ts';
import { ConfigError } from '#core/model/errors.ts';
import { aConfig, expectIssue, withSchedule } from '../../support/raw-config.ts';

const exampleFile = fileURLToPath(new URL('../../../snapkeeper.config.json', import.meta.url));

describe('a valid config', () => {
  it('loads the example file from the repository root', async () => {
    const config = await loadConfigFile(exampleFile);
    expect(config.region).toBe('us-east-1');
    expect(config.policies.map((policy) => policy.name)).toEqual(['daily', 'volumes']);
    expect(config.policies[0]?.schedules.find((s) => s.name === 'weekly')?.ami).toBe(true);
  });

  it('fills in the defaults of a minimal config', () => {
    const config = parseConfig(aConfig());
    expect(config.policies[0]).toEqual({
      name: 'daily',
      targets: 'instances',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 }, ami: false }],
      consistency: { mode: 'crash', timeoutSeconds: 10, onFailure: 'crash' },
      excludeBootVolume: false,
      copies: [],
      onDemand: { keep: { days: 7 } },
      orphans: {},
      tags: {},
    });
    expect(config.reconcile).toEqual({ stuckAfterMinutes: 360 });
    expect(config.manifests).toBeUndefined();
  });

  it('accepts its own parsed output again, as the Lambdas do with the deployed config', async () => {
    const config = await loadConfigFile(exampleFile);
    expect(parseConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
  });

  it('fills in consistency defaults around a given mode', () => {
    const config = parseConfig(aConfig((c) => (c.policies[0].consistency = { mode: 'filesystem' })));
    expect(config.policies[0]?.consistency).toEqual({
      mode: 'filesystem',
      timeoutSeconds: 10,
      onFailure: 'crash',
    });
  });

  it('reads YAML to the same config as the equivalent JSON', () => {
    const yaml = `
region: us-east-1
catalog: { table: snapkeeper-catalog }
policies:
  - name: daily
    targets: instances
    schedules:
      - name: daily
        expression: cron(0 3 * * ? *)
        keep: { count: 7 }
`;
    expect(parseConfigText(yaml, 'yaml')).toEqual(parseConfig(aConfig()));
  });

  it('loads a .yml file by its extension', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'snapkeeper-config-')), 'config.yml');
    await writeFile(
      path,
      'region: us-east-1\ncatalog: { table: t-1 }\npolicies:\n  - name: v\n    targets: volumes\n    schedules: [{ name: d, expression: rate(1 day), keep: { days: 3 } }]\n',
    );
    expect((await loadConfigFile(path)).policies[0]?.schedules[0]?.keep).toEqual({ days: 3 });
  });

  it('accepts cron syntax EventBridge allows: lists, ranges, steps, names, L, W and #', () => {
    for (const expression of [
      'cron(0/15 8-18 ? * MON-FRI *)',
      'cron(0,30 1,13 L * ? 2025-2030)',
      'cron(0 3 15W * ? *)',
      'cron(0 3 ? * FRI#3 *)',
      'cron(0 3 ? * 6L *)',
      'cron(0 12 1 JAN,JUL ? *)',
      'rate(1 minute)',
      'rate(12 hours)',
    ]) {
      expect(() => parseConfig(withSchedule({ expression })), expression).not.toThrow();
    }
  });

  it('accepts an IANA time zone', () => {
    expect(() =>
      parseConfig(withSchedule({ expression: 'cron(0 3 * * ? *)', timezone: 'Europe/Paris' })),
    ).not.toThrow();
  });
});

describe('an invalid config', () => {
  it('names an unknown top-level key and lists the allowed ones', () => {
    expectIssue(
      aConfig((c) => (c.retention = 7)),
      'retention',
      'unknown key "retention"; remove it or use one of',
    );
  });

  it('names an unknown nested key and suggests the likely spelling', () => {
    const raw = withSchedule({ expresion: 'cron(0 3 * * ? *)', expression: 'cron(0 3 * * ? *)' });
    expectIssue(raw, 'policies[0].schedules[0].expresion', 'did you mean "expression"?');
  });

  it('rejects a five-field cron and suggests the EventBridge form', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 * * *)' }),
      'policies[0].schedules[0].expression',
      'did you mean "cron(0 3 * * ? *)"?',
    );
  });

  it('suggests a valid EventBridge form for a five-field cron whose day-of-week is already "?"', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 * * * ?)' }),
      'policies[0].schedules[0].expression',
      'did you mean "cron(0 * * * ? *)"?',
    );
  });

  it('rejects a cron with "?" in both day fields', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 ? * ? *)' }),
      'policies[0].schedules[0].expression',
      'both "?"',
    );
  });

  it('rejects a cron with "?" in neither day field', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 * * MON *)' }),
      'policies[0].schedules[0].expression',
      'must be "?"',
    );
  });

  it('rejects minute 61 and gives the range', () => {
    expectIssue(
      withSchedule({ expression: 'cron(61 3 * * ? *)' }),
      'policies[0].schedules[0].expression',
      'minutes takes 0-59',
    );
  });

  it('rejects a misspelt day name and lists the valid ones', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 ? * MOM *)' }),
      'policies[0].schedules[0].expression',
      '"MOM" is not a day of the week; use 1-7 or SUN, MON',
    );
  });

  it('rejects rate(0 hours)', () => {
    expectIssue(
      withSchedule({ expression: 'rate(0 hours)' }),
      'policies[0].schedules[0].expression',
      'at least 1',
    );
  });

  it('rejects rate(1 hours) and gives the singular form', () => {
    expectIssue(
      withSchedule({ expression: 'rate(1 hours)' }),
      'policies[0].schedules[0].expression',
      'write "rate(1 hour)"',
    );
  });

  it('rejects an unknown rate unit', () => {
    expectIssue(
      withSchedule({ expression: 'rate(5 fortnights)' }),
      'policies[0].schedules[0].expression',
      'unknown rate unit "fortnights"',
    );
  });

  it('rejects a keep rule with neither count nor days', () => {
    expectIssue(
      withSchedule({ expression: 'rate(1 day)', keep: {} }),
      'policies[0].schedules[0].keep',
      'keep needs count or days (or both), e.g. { "count": 7 }',
    );
  });

  it('rejects two policies with the same name', () => {
    const raw = aConfig((c) => c.policies.push({ ...c.policies[0] }));
    expectIssue(raw, 'policies[1].name', 'duplicate policy name "daily"');
  });

  it('rejects two schedules with the same name in one policy', () => {
    const raw = aConfig((c) =>
      c.policies[0].schedules.push({ name: 'daily', expression: 'rate(1 day)', keep: { count: 1 } }),
    );
    expectIssue(raw, 'policies[0].schedules[1].name', 'duplicate schedule name "daily"');
  });

  it('rejects a schedule named on-demand, the lineage of on-demand backups', () => {
    const raw = aConfig((c) =>
      c.policies[0].schedules.push({ name: 'on-demand', expression: 'rate(1 day)', keep: { count: 1 } }),
    );
    expectIssue(
      raw,
      'policies[0].schedules[1].name',
      'schedule name "on-demand" is reserved for on-demand backups (snapkeeper backup); rename the schedule',
    );
  });

  it('rejects on-demand retention that is not a whole number of days of at least 1', () => {
    const raw = aConfig((c) => Object.assign(c.policies[0], { onDemand: { keep: { days: 0 } } }));
    expectIssue(raw, 'policies[0].onDemand.keep.days', 'onDemand.keep.days must be at least 1');
    const counted = aConfig((c) => Object.assign(c.policies[0], { onDemand: { keep: { count: 3 } } }));
    expectIssue(counted, 'policies[0].onDemand.keep.count', 'unknown key "count"');
  });

  it('rejects a copy to the config region itself', () => {
    const raw = aConfig((c) => (c.policies[0].copies = [{ region: 'us-east-1' }]));
    expectIssue(
      raw,
      'policies[0].copies[0].region',
      'is the config region; a DR copy must go to another Region',
    );
  });

  it('rejects a copy naming a schedule the policy does not have, listing the ones it has', () => {
    const raw = aConfig((c) => (c.policies[0].copies = [{ region: 'us-west-2', schedules: ['weekly'] }]));
    expectIssue(
      raw,
      'policies[0].copies[0].schedules[0]',
      'no schedule named "weekly" in policy "daily"; use one of: daily',
    );
  });

  it('rejects script consistency without a document', () => {
    const raw = aConfig((c) => (c.policies[0].consistency = { mode: 'script' }));
    expectIssue(raw, 'policies[0].consistency.document', 'mode "script" needs the SSM document');
  });

  it('rejects a document outside script mode', () => {
    const raw = aConfig((c) => (c.policies[0].consistency = { mode: 'filesystem', document: 'MyFreeze' }));
    expectIssue(raw, 'policies[0].consistency.document', 'only used when mode is "script"');
  });

  it('rejects an unknown time zone', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 * * ? *)', timezone: 'Europe/Londn' }),
      'policies[0].schedules[0].timezone',
      'unknown time zone "Europe/Londn"',
    );
  });

  it('rejects $(volume-id) in an instances policy and explains why', () => {
    const raw = aConfig((c) => (c.policies[0].tags = { Source: '$(volume-id)' }));
    expectIssue(
      raw,
      'policies[0].tags.Source',
      'one CreateSnapshots call gives every snapshot of the set the same tags',
    );
  });

  it('rejects an unknown tag variable', () => {
    const raw = aConfig((c) => (c.policies[0].tags = { Backup: '$(date)' }));
    expectIssue(raw, 'policies[0].tags.Backup', 'unknown variable "$(date)"');
  });

  it('rejects an AMI schedule in a volumes policy', () => {
    const raw = aConfig((c) => {
      c.policies[0].targets = 'volumes';
      c.policies[0].schedules[0].ami = true;
    });
    expectIssue(raw, 'policies[0].schedules[0].ami', 'an AMI is made of an instance');
  });

  it('rejects a reserved tag key', () => {
    const raw = aConfig((c) => (c.policies[0].tags = { 'snapkeeper:policy': 'x' }));
    expectIssue(raw, 'policies[0].tags["snapkeeper:policy"]', 'cannot start with "aws:"');
  });

  it('names a misspelt enum value and the allowed ones', () => {
    expectIssue(
      aConfig((c) => (c.policies[0].targets = 'instance')),
      'policies[0].targets',
      'did you mean "instances"?',
    );
  });

  it('reports every problem at once, one line each with the source', () => {
    const raw = aConfig((c) => {
      c.region = 'US-EAST-1';
      c.policies[0].schedules[0].keep = { count: 0 };
    });
    expect(() => parseConfig(raw, 'snapkeeper.config.json')).toThrow(
      /^snapkeeper\.config\.json: region: not an AWS Region id.*\nsnapkeeper\.config\.json: policies\[0\]\.schedules\[0\]\.keep\.count: must be at least 1/,
    );
  });

  it('reports a YAML syntax error with its line', () => {
    const yaml = 'region: us-east-1\ncatalog:\n  table: t\n   bad: [\n';
    expect(() => parseConfigText(yaml, 'yaml', 'config.yaml')).toThrow(
      /^config\.yaml: YAML syntax error at line \d+, column \d+/,
    );
  });

  it('reports a JSON syntax error with its line', () => {
    expect(() => parseConfigText('{\n  "region": "us-east-1",\n}', 'json', 'c.json')).toThrow(
      /JSON syntax error at line 3, column 1/,
    );
  });

  it('names a missing file and suggests --config', async () => {
    const missing = join(tmpdir(), 'no-such-dir', 'snapkeeper.config.json');
    const error = await loadConfigFile(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).source).toBe(missing);
    expect((error as ConfigError).message).toContain(`${missing}: config file not found`);
    expect((error as ConfigError).message).toContain('--config <file>');
  });
});

describe('finding a schedule', () => {
  it('returns the policy and schedule a run names', () => {
    const { policy, schedule } = findSchedule(parseConfig(aConfig()), 'daily', 'daily');
    expect([policy.name, schedule.expression]).toEqual(['daily', 'cron(0 3 * * ? *)']);
  });

  it('names the valid policies when the policy is unknown', () => {
    expect(() => findSchedule(parseConfig(aConfig()), 'weekly', 'daily')).toThrow(
      /no policy named "weekly"; valid policies: daily/,
    );
  });

  it('names the valid schedules when the schedule is unknown', () => {
    expect(() => findSchedule(parseConfig(aConfig()), 'daily', 'hourly')).toThrow(/valid schedules: daily/);
  });
});

describe('copies of a schedule', () => {
  it('inherit the schedule keep rule unless they set their own', async () => {
    const config = await loadConfigFile(exampleFile);
    const { policy, schedule } = findSchedule(config, 'daily', 'daily');
    expect(copiesForSchedule(policy, schedule)).toEqual([
      expect.objectContaining({ region: 'us-west-2', keep: { count: 7 } }),
    ]);
    const hourly = findSchedule(config, 'daily', 'hourly').schedule;
    expect(copiesForSchedule(policy, hourly)).toEqual([]);
    const noKeep = { ...policy, copies: [{ region: 'eu-west-1' }] };
    expect(copiesForSchedule(noKeep, hourly)).toEqual([{ region: 'eu-west-1', keep: { count: 24 } }]);
  });
});
