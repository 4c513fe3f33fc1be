import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tagsOf } from '#adapters/ec2/snapshots.ts';
import { realismState } from '#cli/sandbox/realism.ts';
import type { Generation } from '#core/model/generation.ts';
import { TAG } from '#core/model/tags.ts';
import { cli, cliProcess, repoRoot } from '../support/cli.ts';

// `snapkeeper sandbox --fleet` run as a user runs it, in its own process, and the CLI run against it as separate
// processes too: nothing in this process patches a client, so what the CLI gets is what the emulator's side does.

interface Sandbox {
  child: ChildProcessWithoutNullStreams;
  env: Record<string, string>;
  /** Fleet members by name, from the comment lines before `ready`. */
  fleet: Map<string, string>;
  stdout: string[];
}

function startSandbox(args: string[]): Promise<Sandbox> {
  // The bin itself, not `npx`, so that the signal below reaches the sandbox and not a wrapper process.
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'snapkeeper.mjs'), 'sandbox', ...args], {
    cwd: repoRoot,
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const sandbox: Sandbox = { child, env: {}, fleet: new Map(), stdout: [] };
    const timer = setTimeout(() => reject(new Error(`sandbox not ready in 120 s:\n${stderr}`)), 120_000);
    child.once('exit', (code) => reject(new Error(`sandbox exited ${code} before ready:\n${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      sandbox.stdout.push(line);
      const exported = /^export (\w+)=(.*)$/.exec(line);
      if (exported?.[1] && exported[2] !== undefined) sandbox.env[exported[1]] = exported[2];
      const member = /^# (\S+)\s+(\S+)/.exec(line);
      if (member?.[1] && member[2]) sandbox.fleet.set(member[2], member[1]);
      if (line === 'ready') {
        clearTimeout(timer);
        resolve(sandbox);
      }
    });
  });
}

let sandbox: Sandbox;
let ec2: EC2Client;
const snapkeeper = (...argv: string[]) => cliProcess([...argv, '--quiet'], repoRoot, sandbox.env);
const generationsOf = async (id: string): Promise<Generation[]> =>
  JSON.parse((await snapkeeper('generations', '--instance', id, '--json', '--limit', '20')).stdout);

beforeAll(async () => {
  sandbox = await startSandbox(['--port', '0', '--fleet', '--quiet']);
  ec2 = new EC2Client({
    region: 'us-east-1',
    endpoint: sandbox.env.AWS_ENDPOINT_URL,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}, 180_000);

afterAll(() => {
  if (sandbox?.child.exitCode === null) sandbox.child.kill('SIGKILL');
});

describe('snapkeeper sandbox --fleet', () => {
  it('prints the environment to export, the fleet, and ready', () => {
    expect(sandbox.env).toMatchObject({
      AWS_ENDPOINT_URL: expect.stringMatching(/^http:\/\/localhost:\d+$/),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    });
    expect([...sandbox.fleet.keys()]).toEqual(['web-1', 'db-1', 'shared-scratch', 'reports']);
    expect(sandbox.stdout.at(-1)).toBe('ready');
  });

  it('gives the CLI a filesystem-consistent generation through the simulated agent, thawed after', async () => {
    const web = sandbox.fleet.get('web-1') ?? '';
    const run = await snapkeeper('run', '--policy', 'daily', '--schedule', 'hourly');
    expect(run.status, run.stderr).toBe(0);
    const [generation] = await generationsOf(web);
    expect(generation).toMatchObject({ consistency: 'filesystem', target: { id: web } });
    expect(generation?.snapshots.every((s) => s.consistency === 'filesystem')).toBe(true);
    const agents = (await realismState(sandbox.env.AWS_ENDPOINT_URL ?? '')).agents;
    const events = agents.events.filter((e) => e.instanceId === web).map((e) => e.event);
    expect(events).toEqual(['freeze-sent', 'frozen', 'thaw-sent', 'thawed']);
    expect(agents.frozen).toEqual([]);
  });

  it('gives the CLI an AMI whose snapshots carry the generation and the mark from their creation', async () => {
    const web = sandbox.fleet.get('web-1') ?? '';
    const run = await snapkeeper('run', '--policy', 'daily', '--schedule', 'weekly');
    expect(run.status, run.stderr).toBe(0);
    const generation = (await generationsOf(web)).find((g) => g.amiId);
    expect(generation?.amiId).toMatch(/^ami-/);
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [generation?.amiId ?? ''] })))
      .Images?.[0];
    const behind = image?.BlockDeviceMappings?.flatMap((m) => m.Ebs?.SnapshotId ?? []) ?? [];
    expect(behind.length).toBeGreaterThan(0);
    const snapshots = (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: behind }))).Snapshots ?? [];
    for (const snapshot of snapshots) {
      expect(tagsOf(snapshot.Tags)).toMatchObject({
        [TAG.managed]: 'true',
        [TAG.generation]: generation?.id,
        [TAG.mark]: expect.any(String),
      });
    }
  });

  it('makes one volume from two restores that share one idempotency token', async () => {
    const shared = sandbox.fleet.get('shared-scratch') ?? '';
    expect((await snapkeeper('run', '--policy', 'volumes', '--schedule', 'daily')).status).toBe(0);
    expect((await snapkeeper('reconcile')).status).toBe(0);
    const restore = () =>
      snapkeeper(
        'restore',
        '--volume',
        shared,
        '--az',
        'us-east-1b',
        '--idempotency-token',
        'one-token',
        '--json',
      );
    const first = await restore();
    const second = await restore();
    expect(first.status, first.stderr).toBe(0);
    expect(second.status, second.stderr).toBe(0);
    const volumeId = JSON.parse(first.stdout).volumeId as string;
    expect(JSON.parse(second.stdout).volumeId).toBe(volumeId);
    const restored = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: `tag:${TAG.sourceVolume}`, Values: [shared] }] }),
    );
    expect(restored.Volumes?.map((v) => v.VolumeId)).toEqual([volumeId]);
  });

  it('stops the emulator it started on SIGTERM, and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) =>
      sandbox.child.once('exit', (code) => resolve(code)),
    );
    sandbox.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`${sandbox.env.AWS_ENDPOINT_URL}/moto-api/data.json`)).rejects.toThrow();
  });
});

describe('snapkeeper sandbox with bad flags', () => {
  let held: Server;
  beforeAll(async () => {
    held = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => held.close());

  it('refuses a port that is not a number, naming --port, with exit status 2', async () => {
    const result = await cli(['sandbox', '--port', 'eighty']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--port.*expected a port number from 0 to 65535/);
  });

  it('refuses --profile, which it cannot honour, with exit status 2', async () => {
    const result = await cli(['sandbox', '--profile', 'prod']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--profile does not apply: the sandbox signs with its test credentials');
  });

  it('refuses a port another process holds, with the fix, with exit status 2', async () => {
    const { port } = held.address() as { port: number };
    const result = await cli(['sandbox', '--port', String(port)]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`port ${port} is in use on loopback; pass another with --port`);
  });
});
