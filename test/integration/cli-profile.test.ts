import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cliProcess, repoRoot } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';

// `--profile` as a user runs it: the CLI in its own process, the shared config and credentials files holding two
// profiles, the environment holding a third set of keys, and a pass-through proxy in front of the emulator that
// reads which access key signed each request (SigV4's `Credential=<key id>/<date>/<Region>/<service>/…`).

const KEYS = { env: 'AKIAENVIRONMENT00001', ops: 'AKIAOPSPROFILE000001', other: 'AKIAOTHERPROFILE0001' };

const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-profile-'));
const configFile = join(scratch, 'snapkeeper.config.json');
const awsConfigFile = join(scratch, 'aws-config');
const credentialsFile = join(scratch, 'aws-credentials');

/** Who signed each request the proxy passed on: access key id and service. */
let signed: Array<{ key: string; service: string }> = [];
let proxy: Server;
let proxyUrl: string;

beforeAll(async () => {
  const emulator = new URL(process.env.AWS_ENDPOINT_URL ?? '');
  proxy = createServer((incoming, outgoing) => {
    const credential = /Credential=([^/]+)\/[^/]+\/[^/]+\/([^/]+)\//.exec(
      incoming.headers.authorization ?? '',
    );
    signed.push({ key: credential?.[1] ?? 'unsigned', service: credential?.[2] ?? 'unsigned' });
    const forward = request(
      { host: emulator.hostname, port: emulator.port, path: incoming.url, method: incoming.method },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) forward.setHeader(name, value);
    }
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://localhost:${(proxy.address() as AddressInfo).port}`;

  writeFileSync(
    configFile,
    JSON.stringify({
      region: 'us-east-1',
      catalog: { table: 'profile-catalog' },
      policies: [
        {
          name: 'vols',
          targets: 'volumes',
          schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 2 } }],
        },
      ],
    }),
  );
  writeFileSync(awsConfigFile, '[profile ops]\nregion = us-east-1\n[profile other]\nregion = us-east-1\n');
  writeFileSync(
    credentialsFile,
    `[ops]\naws_access_key_id = ${KEYS.ops}\naws_secret_access_key = ops-secret\n` +
      `[other]\naws_access_key_id = ${KEYS.other}\naws_secret_access_key = other-secret\n`,
  );
  await aVolume(new EC2Client({ region: 'us-east-1' }), { tags: { 'snapkeeper:policy': 'vols' } });
});

afterAll(async () => {
  await new Promise((resolve) => proxy.close(resolve));
  rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => {
  signed = [];
});

/** The CLI in its own process, talking to the emulator through the proxy, with environment keys set too. */
function snapkeeper(argv: string[], env: Record<string, string> = {}) {
  return cliProcess([...argv, '--config', configFile, '--quiet'], repoRoot, {
    AWS_ENDPOINT_URL: proxyUrl,
    AWS_CONFIG_FILE: awsConfigFile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_ACCESS_KEY_ID: KEYS.env,
    AWS_SECRET_ACCESS_KEY: 'env-secret',
    AWS_PROFILE: '',
    ...env,
  });
}

describe('--profile', () => {
  it("signs every call of every client (DynamoDB, EC2) with that profile's keys, not the environment's", async () => {
    for (const argv of [['init'], ['run', '-p', 'vols', '-s', 'daily', '--at', '2026-11-20T03:00:00Z']]) {
      const result = await snapkeeper([...argv, '--profile', 'ops']);
      expect(result.status, result.stderr).toBe(0);
    }
    expect([...new Set(signed.map((request) => request.service))]).toEqual(
      expect.arrayContaining(['dynamodb', 'ec2']),
    );
    expect(new Set(signed.map((request) => request.key))).toEqual(new Set([KEYS.ops]));
  });

  it('wins over AWS_PROFILE, as in aws-cli', async () => {
    const result = await snapkeeper(['generations', '--profile', 'ops'], { AWS_PROFILE: 'other' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('vols');
    expect(signed.length).toBeGreaterThan(0);
    expect(new Set(signed.map((request) => request.key))).toEqual(new Set([KEYS.ops]));
  });

  it("is what changes the signer: without it the environment's keys sign, with AWS_PROFILE that profile's", async () => {
    expect((await snapkeeper(['generations'])).status).toBe(0);
    expect(new Set(signed.map((request) => request.key))).toEqual(new Set([KEYS.env]));
    signed = [];
    expect((await snapkeeper(['generations'], { AWS_PROFILE: 'other' })).status).toBe(0);
    expect(new Set(signed.map((request) => request.key))).toEqual(new Set([KEYS.other]));
  });
});
