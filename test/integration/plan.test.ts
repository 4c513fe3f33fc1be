import { writeFileSync } from 'node:fs';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { parseConfig } from '#core/config/config.ts';
import type { Plan } from '#core/lifecycle/plan.ts';
import type { Generation } from '#core/model/generation.ts';
import { cli } from '../support/cli.ts';
import { anInstance, aVolume, type SeededInstance } from '../support/fleet.ts';

// `snapkeeper plan --json` on the emulator: SPEC §7's shape, real tag problems, and nothing changed.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'plan-catalog' },
  policies: [
    {
      name: 'daily',
      targets: 'instances',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 1 } }],
      copies: [{ region: 'us-west-2', schedules: ['daily'] }],
    },
    {
      name: 'vols',
      targets: 'volumes',
      schedules: [
        { name: 'nightly', expression: 'cron(30 2 * * ? *)', timezone: 'Europe/Berlin', keep: { count: 1 } },
      ],
    },
    {
      name: 'vols2',
      targets: 'volumes',
      schedules: [{ name: 'weekly', expression: 'rate(7 days)', keep: { count: 2 } }],
    },
  ],
});
const file = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-plan-${process.pid}.json`;
const ec2 = new EC2Client({ region: 'us-east-1' });
const clients = new AwsClients({ maxAttempts: 2 });
let web: SeededInstance;
let twice: string;
let mistagged: string;
let plan: Plan;
let before: { snapshots: number; generations: Generation[] };

async function state() {
  const snapshots =
    (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots?.length ?? 0;
  const listed = await cli(['generations', '--json', '--limit', '1000', '--config', file], clients);
  return { snapshots, generations: JSON.parse(listed.stdout) as Generation[] };
}

beforeAll(async () => {
  writeFileSync(file, JSON.stringify(config));
  expect((await cli(['init', '--config', file], clients)).status).toBe(0);
  web = await anInstance(ec2, {
    tags: { 'snapkeeper:policy': 'daily' },
    dataVolumes: 2,
    volumeTags: [{ App: 'web' }, { 'snapkeeper:exclude': 'true' }],
  });
  twice = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'vols,vols2' } });
  mistagged = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'dialy' } });
  for (const at of ['2026-11-19T03:00:00Z', '2026-11-20T03:00:00Z']) {
    expect(
      (await cli(['run', '-p', 'daily', '-s', 'daily', '--at', at, '--config', file], clients)).status,
    ).toBe(0);
    expect((await cli(['reconcile', '--at', at, '--config', file], clients)).status).toBe(0);
  }
  before = await state();
  const result = await cli(['plan', '--at', '2026-11-21T12:00:00Z', '--json', '--config', file], clients);
  expect(result.status).toBe(0);
  plan = JSON.parse(result.stdout) as Plan;
});

describe('plan --json', () => {
  it('has the shape of SPEC §7, plus the time it was made for and what is held', () => {
    expect(Object.keys(plan).sort()).toEqual(['at', 'copy', 'held', 'problems', 'prune', 'snapshot']);
  });

  it('lists what each schedule would snapshot next, with its exclusions and time', () => {
    expect(plan.snapshot).toContainEqual({
      policy: 'daily',
      schedule: 'daily',
      nextRunAt: '2026-11-22T03:00:00.000Z',
      target: { kind: 'instance', id: web.instanceId },
      volumes: [web.bootVolumeId, web.dataVolumeIds[0]],
      excluded: [{ volumeId: web.dataVolumeIds[1], reason: 'exclude-tag' }],
      ami: false,
    });
    // 02:30 in Berlin is 01:30 UTC in winter; a rate schedule has no fixed time to show.
    const nightly = plan.snapshot.find((s) => s.schedule === 'nightly');
    expect(nightly).toMatchObject({ target: { id: twice }, nextRunAt: '2026-11-22T01:30:00.000Z' });
    expect(plan.snapshot.find((s) => s.schedule === 'weekly')?.nextRunAt).toBeUndefined();
    expect(plan.copy).toContainEqual(expect.objectContaining({ policy: 'daily', region: 'us-west-2' }));
  });

  it('shows the expired generation held back by its missing DR copy, not as a prune', () => {
    const older = before.generations.find((g) => g.scheduledAt === '2026-11-19T03:00:00.000Z');
    expect(plan.held).toContainEqual({
      generationId: older?.id,
      reason: 'its copy to us-west-2 has not completed',
    });
    expect(plan.prune.map((p) => p.generationId)).not.toContain(older?.id);
  });

  it('reports the tag problems an operator should fix', () => {
    const problems = plan.problems.map((p) => `${p.resourceId}: ${p.problem}`);
    expect(problems).toContainEqual(
      expect.stringMatching(new RegExp(`^${mistagged}: snapkeeper:policy names "dialy", which is no policy`)),
    );
    expect(problems).toContainEqual(
      `${twice}: tagged for 2 volume policies (vols, vols2); each takes its own snapshots of it`,
    );
    expect(problems).toContainEqual(
      expect.stringMatching(new RegExp(`^${web.dataVolumeIds[1]}: excluded from ${web.instanceId}`)),
    );
  });

  it('changes nothing', async () => {
    expect(await state()).toEqual(before);
  });

  it('exits 1 with --fail-on-problems when it lists problems, printing the plan still', async () => {
    const gated = await cli(
      ['plan', '--at', '2026-11-21T12:00:00Z', '--fail-on-problems', '--config', file],
      clients,
    );
    expect(gated.status).toBe(1);
    expect(gated.stdout).toMatch(/Problems \(\d+\):\n {2}! /);
    expect(plan.problems.length).toBeGreaterThan(0);
    const ungated = await cli(['plan', '--at', '2026-11-21T12:00:00Z', '--config', file], clients);
    expect(ungated.status).toBe(0);
    expect(ungated.stdout).toBe(gated.stdout);
  });

  it('rejects an unknown policy with exit status 2', async () => {
    const result = await cli(['plan', '--policy', 'nope', '--config', file], clients);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('no policy named "nope"');
  });
});
