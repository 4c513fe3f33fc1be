import { expect } from 'vitest';
import { parseConfig } from '#core/config/config.ts';
import { ConfigError, type ConfigIssue } from '#core/model/errors.ts';

/** Raw config documents for the config tests: the smallest valid one, and what parsing says about a changed one. */

// The tests write deliberately wrong shapes into the config, so it is loosely typed on purpose.
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Raw = Record<string, any>;

/** The smallest valid config; `change` edits a copy of it. */
export function aConfig(change: (config: Raw) => void = () => {}): Raw {
  const config = {
    region: 'us-east-1',
    catalog: { table: 'snapkeeper-catalog' },
    policies: [
      {
        name: 'daily',
        targets: 'instances',
        schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }],
      },
    ],
  };
  change(config);
  return config;
}

export function withSchedule(fields: Record<string, unknown>) {
  return aConfig((config) => {
    config.policies[0].schedules[0] = { name: 'daily', keep: { count: 7 }, ...fields };
  });
}

export function issuesOf(raw: unknown): ConfigIssue[] {
  try {
    parseConfig(raw, 'test.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

export function expectIssue(raw: unknown, path: string, fragment: string) {
  expect(issuesOf(raw)).toContainEqual({ path, message: expect.stringContaining(fragment) });
}
