import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import type { Generation } from '#core/model/generation.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { anInstance } from '../support/fleet.ts';

// Six weeks of hourly, daily and weekly schedules replayed on a simulated clock against the emulator, then
// compared with what the keep rules require, computed here independently of the product's retention code. Six
// weeks is the shortest replay in which every rule prunes (the weekly one keeps 4 of 6); REPLAY_DAYS=60 replays
// longer. It was 60 days until a 2-core machine half as fast as the usual one took the setup to 824 s of its 900.

const DAYS = Number(process.env.REPLAY_DAYS ?? 42);
const START = Date.parse('2026-09-01T00:00:00.000Z');
const HOUR = 3_600_000;
const rules = {
  hourly: { count: 24 },
  daily: { count: 7, days: 14 },
  weekly: { count: 4 },
} as const;
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'replay-catalog' },
  policies: [
    {
      name: 'std',
      targets: 'instances',
      schedules: [
        { name: 'hourly', expression: 'cron(0 * * * ? *)', keep: rules.hourly },
        { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: rules.daily },
        { name: 'weekly', expression: 'cron(0 4 ? * SUN *)', keep: rules.weekly },
      ],
    },
  ],
});
const log = consoleLog(() => {});
const clients = new AwsClients({ maxAttempts: 2 });
const ec2 = new EC2Client({ region: 'us-east-1' });

/** Every (schedule, time) the replay fires, in time order: the schedules' cron expressions written out. */
function firings(): { schedule: keyof typeof rules; at: number }[] {
  const all: { schedule: keyof typeof rules; at: number }[] = [];
  for (let h = 0; h < DAYS * 24; h++) {
    const at = START + h * HOUR;
    const date = new Date(at);
    all.push({ schedule: 'hourly', at });
    if (date.getUTCHours() === 3) all.push({ schedule: 'daily', at });
    if (date.getUTCHours() === 4 && date.getUTCDay() === 0) all.push({ schedule: 'weekly', at });
  }
  return all;
}

/** Kept at `end` iff one of fewer than `count` of its schedule taken up to then, or younger than `days`. */
function expectedAlive(fired: { schedule: keyof typeof rules; at: number }[], end: number): string[] {
  const alive: string[] = [];
  for (const schedule of Object.keys(rules) as (keyof typeof rules)[]) {
    const rule: { count?: number; days?: number } = rules[schedule];
    const times = fired
      .filter((f) => f.schedule === schedule)
      .map((f) => f.at)
      .sort((a, b) => b - a);
    times.forEach((at, rank) => {
      const byCount = rule.count !== undefined && rank < rule.count;
      const byDays = rule.days !== undefined && end < at + rule.days * 24 * HOUR;
      if (byCount || byDays) alive.push(`${schedule}@${new Date(at).toISOString()}`);
    });
  }
  return alive.sort();
}

describe(`a ${DAYS}-day replay of hourly, daily and weekly schedules`, () => {
  const end = START + DAYS * 24 * HOUR;
  let history: Generation[];
  let instanceId: string;

  // 60 days took about 330 s on an idle 2-core machine (docs/benchmarks.md), 824 s on one half as fast.
  beforeAll(async () => {
    await ensureSandbox(config, clients);
    ({ instanceId } = await anInstance(ec2, { tags: { 'snapkeeper:policy': 'std' }, dataVolumes: 0 }));
    for (const { schedule, at } of firings()) {
      const clock = { now: () => new Date(at) };
      await runSchedule(
        { policy: 'std', schedule, scheduledAt: new Date(at).toISOString() },
        runDeps({ config, clients, clock, log }),
      );
      // Reconcile as the stack schedules it, compressed to one pass a day (the emulator is slow per call); the
      // final state does not depend on how often passes run, only on the keep rules.
      if (schedule === 'hourly' && new Date(at).getUTCHours() === 12) {
        await reconcile(
          reconcileDeps({ config, clients, clock: { now: () => new Date(at + 20 * 60_000) }, log }),
        );
      }
    }
    await reconcile(reconcileDeps({ config, clients, clock: { now: () => new Date(end) }, log }));
    history = await catalogFor(config, clients).byTarget(instanceId, { limit: 5000 });
  }, 900_000);

  it('ends with exactly the generations the keep rules require', () => {
    const alive = history
      .filter((g) => !g.deletedAt)
      .map((g) => `${g.schedule}@${g.scheduledAt}`)
      .sort();
    expect(alive).toEqual(expectedAlive(firings(), end));
  });

  it('pruned under every rule, so the keep rules were exercised and not merely never reached', () => {
    for (const schedule of Object.keys(rules)) {
      expect(
        history.some((g) => g.schedule === schedule && g.deletedAt),
        schedule,
      ).toBe(true);
    }
  });

  it('made one generation per firing, and lost none of their records', () => {
    expect(history).toHaveLength(firings().length);
    expect(history.every((g) => g.state === 'completed')).toBe(true);
  });

  it('left exactly the snapshots of the live generations in EC2', async () => {
    const live = history
      .filter((g) => !g.deletedAt)
      .flatMap((g) => g.snapshots.map((s) => s.snapshotId))
      .sort();
    const inEc2 = ((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ?? [])
      .map((s) => s.SnapshotId ?? '')
      .sort();
    expect(inEc2).toEqual(live);
  });
});
