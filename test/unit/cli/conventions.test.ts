import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { checkProfile, colorsOn, configPath, talkingTo } from '#cli/conventions.ts';
import { plural, table } from '#cli/format.ts';
import { parseConfig } from '#core/config/config.ts';
import { cli } from '../../support/cli.ts';
import { aConfig as rawConfig } from '../../support/raw-config.ts';

// The conventions SREs bring from aws-cli and Cloud Custodian, through the real CLI in-process. Nothing here
// reaches AWS: `validate` reads the config alone, and a refused flag fails before any client is used.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'snapkeeper-conventions-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

const write = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const withCopies = rawConfig((c) => {
  c.manifests = { bucket: 'dr-manifests', region: 'us-west-2' };
  c.policies[0].copies = [{ region: 'eu-west-1', keep: { count: 3 } }];
});

describe('snapkeeper --version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await cli([flag]);
      expect(result).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('snapkeeper validate', () => {
  it('exits 0 for a valid config, saying what it holds and where it works, in text and JSON', async () => {
    const file = write('ok.json', JSON.stringify(withCopies));
    const text = await cli(['validate', '--config', file]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      'The config is valid: 1 policy in us-east-1\n  daily (instances): 1 schedule daily, copied to eu-west-1\n',
    );
    const json = await cli(['validate', '--config', file, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      valid: true,
      region: 'us-east-1',
      policies: [{ name: 'daily', targets: 'instances', schedules: ['daily'], copiesTo: ['eu-west-1'] }],
    });
  });

  it('exits 2 naming each problem of a bad config on its own line, in text and JSON', async () => {
    const file = write(
      'bad.json',
      JSON.stringify(
        rawConfig((c) => {
          c.region = 'us-est-1';
          c.policies[0].schedules[0].keep = { count: 0 };
        }),
      ),
    );
    const result = await cli(['validate', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/region: not an AWS Region id: "us-est-1".*did you mean "us-east-1"/);
    expect(lines.some((l) => l.includes('policies[0].schedules[0].keep.count'))).toBe(true);
    const json = await cli(['validate', '--config', file, '--json']);
    expect(json.status).toBe(2);
    expect(JSON.parse(json.stdout).error.kind).toBe('ConfigError');
  });
});

describe('the default config', () => {
  it('is the first of snapkeeper.config.json, .yaml, .yml found, and the JSON name when none is', () => {
    expect(configPath(undefined, dir)).toBe('./snapkeeper.config.json');
    write('snapkeeper.config.yml', '');
    expect(configPath(undefined, dir)).toBe('./snapkeeper.config.yml');
    write('snapkeeper.config.yaml', '');
    expect(configPath(undefined, dir)).toBe('./snapkeeper.config.yaml');
    write('snapkeeper.config.json', '');
    expect(configPath(undefined, dir)).toBe('./snapkeeper.config.json');
    expect(configPath('mine.yaml', dir)).toBe('mine.yaml');
  });

  it('is found as snapkeeper.config.yaml by a command run in its folder', async () => {
    write(
      'snapkeeper.config.yaml',
      'region: eu-central-1\ncatalog: { table: yaml-catalog }\npolicies:\n  - name: p\n    targets: volumes\n    schedules: [{ name: s, expression: "rate(1 day)", keep: { count: 1 } }]\n',
    );
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const result = await cli(['validate', '--json']);
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).region).toBe('eu-central-1');
    } finally {
      process.chdir(cwd);
    }
  });

  it('is listed in --help in its lookup order', async () => {
    const help = await cli(['validate', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain(
      'default the first found of ./snapkeeper.config.json, ./snapkeeper.config.yaml, ./snapkeeper.config.yml',
    );
  });
});

describe('--region', () => {
  const config = parseConfig(rawConfig());

  it("is the Region a command works in, over the config's region", async () => {
    const file = write('ok.json', JSON.stringify(rawConfig()));
    const result = await cli(['validate', '--config', file, '--region', 'eu-west-1', '--json']);
    expect(JSON.parse(result.stdout).region).toBe('eu-west-1');
    expect(talkingTo(config, 'eu-west-1', {}, () => {}).region).toBe('eu-west-1');
  });

  it("leaves the config's region over AWS_REGION, and says so on stderr when they differ", async () => {
    const warned: string[] = [];
    expect(talkingTo(config, undefined, { AWS_REGION: 'ap-south-1' }, (l) => warned.push(l)).region).toBe(
      'us-east-1',
    );
    expect(warned).toEqual([
      "snapkeeper: working in us-east-1 (the config's region), not ap-south-1 (AWS_REGION); pass --region ap-south-1 to work there\n",
    ]);
    talkingTo(config, undefined, { AWS_DEFAULT_REGION: 'ap-south-1' }, (l) => warned.push(l));
    expect(warned[1]).toContain('(AWS_DEFAULT_REGION)');
    talkingTo(config, undefined, { AWS_REGION: 'us-east-1' }, (l) => warned.push(l));
    expect(warned).toHaveLength(2);
    vi.stubEnv('AWS_REGION', 'ap-south-1');
    const file = write('ok.json', JSON.stringify(rawConfig()));
    const result = await cli(['validate', '--config', file]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('not ap-south-1 (AWS_REGION)');
  });

  it('refuses a Region id that is not one, exit 2', async () => {
    const file = write('ok.json', JSON.stringify(rawConfig()));
    const result = await cli(['validate', '--config', file, '--region', 'us-est-1']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--region: not an AWS Region id: "us-est-1".*did you mean "us-east-1"/);
  });

  it.each([
    [['restore', '--volume', 'vol-1', '--az', 'eu-west-1a', '--region', 'eu-west-1'], '--to-region'],
    [['copy', '--retry', 'gen-1', '--region', 'eu-west-1'], '--copy-region'],
    [['generations', '--region', 'us-west-2'], '--manifests-region'],
  ])('in its old meaning (%j) is refused, naming its new name %s, exit 2', async (argv, renamed) => {
    const file = write('copies.json', JSON.stringify(withCopies));
    const result = await cli([...argv, '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`on this command --region was renamed to ${renamed}`);
  });
});

describe('--profile', () => {
  it('must name a profile of the shared config or credentials file; an unknown one names both files', async () => {
    const configFile = write('config', '[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-1\n');
    const credentials = write('credentials', '[backup]\naws_access_key_id = x\n');
    const env = { AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: credentials };
    expect(checkProfile('ops', env)).toBe('ops');
    expect(checkProfile('backup', env)).toBe('backup');
    expect(() => checkProfile('prod', env)).toThrow(
      `--profile prod: no such profile in ${configFile} or ${credentials} (profiles there: default, ops, backup)`,
    );
    vi.stubEnv('AWS_CONFIG_FILE', configFile);
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', credentials);
    const file = write('ok.json', JSON.stringify(rawConfig()));
    const result = await cli(['validate', '--config', file, '--profile', 'prod']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('aws configure --profile prod');
    expect((await cli(['validate', '--config', file, '--profile', 'ops'])).status).toBe(0);
  });
});

describe('output', () => {
  it('agrees in number', () => {
    expect([plural(1, 'round'), plural(2, 'round'), plural(0, 'copy', 'copies')]).toEqual([
      '1 round',
      '2 rounds',
      '0 copies',
    ]);
  });

  it('fits a table into the terminal width, the widest column giving way with an ellipsis', () => {
    const rows = [
      [
        'gen-20261121T030000-0123456789abcdef',
        'completed',
        `${'vol-0123456789abcdef0→snap-0123 '.repeat(4)}`,
      ],
    ];
    const whole = table(['GENERATION', 'STATE', 'SNAPSHOTS'], rows);
    expect(whole).toContain(rows[0]?.[2]?.trimEnd());
    const narrow = table(['GENERATION', 'STATE', 'SNAPSHOTS'], rows, 80);
    expect(table(['GENERATION', 'STATE', 'SNAPSHOTS'], rows, 500)).toBe(whole);
    expect(Math.max(...narrow.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(narrow).toContain('gen-20261121T030000-0123456789abcdef  completed');
    expect(narrow.split('\n')[2]).toMatch(/…$/);
  });

  it('has colour only on a terminal and never with NO_COLOR', () => {
    expect(colorsOn({ isTTY: true }, {})).toBe(true);
    expect(colorsOn({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorsOn({ isTTY: false }, {})).toBe(false);
  });
});

describe('errors a person can act on', () => {
  const config = () => write('ok.json', JSON.stringify(rawConfig()));
  const oneTry = () => new AwsClients({ maxAttempts: 1 });

  it('says an endpoint answered HTTP 500 with HTML, not as AWS, naming the endpoint', async () => {
    const server = createServer((_, response) => {
      response.writeHead(500, { 'content-type': 'text/html' });
      response.end('<html><body>Internal Server Error</body></html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    vi.stubEnv('AWS_ENDPOINT_URL', endpoint);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    try {
      const result = await cli(['generations', '--config', config()], oneTry());
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(
        `snapkeeper: the catalog answered HTTP 500 with a body that is not an AWS answer (an HTML page or a proxy's text) (AWS_ENDPOINT_URL is ${endpoint})`,
      );
    } finally {
      server.close();
    }
  });

  it('says no credentials were found, and how to give some', async () => {
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
      vi.stubEnv(name, '');
    vi.stubEnv('AWS_CONFIG_FILE', join(dir, 'none'));
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'none'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', '');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', '');
    vi.stubEnv('AWS_WEB_IDENTITY_TOKEN_FILE', '');
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    const result = await cli(['generations', '--config', config()], oneTry());
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^snapkeeper: no AWS credentials found \(AWS_ENDPOINT_URL is http:\/\/127\.0\.0\.1:9\): pass --profile <name> \(or set AWS_PROFILE\)/,
    );
  });
});

describe('--help', () => {
  it('marks the options a command cannot run without', async () => {
    const help = (await cli(['restore', '--help'])).stdout;
    expect(help).toMatch(/--az <zone>\s+\(required\) Availability Zone/);
    expect(help).not.toMatch(/--volume <id>\s+\(required\)/);
    expect((await cli(['run', '--help'])).stdout).toMatch(/--policy <name>\s+\(required\)/);
  });
});
