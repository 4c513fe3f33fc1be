import type { SQSClient } from '@aws-sdk/client-sqs';
import { bench, describe } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { pumpCopyQueue } from '#cli/copy-pump.ts';
import { copyQueueUrl, ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import type { Log } from '#core/model/ports.ts';
import { copyWorkerDeps, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { aVolume } from '../support/fleet.ts';
import {
  type Measured,
  monthlyCost,
  readUnitsOf,
  renderCost,
  type Usage,
  usageOf,
  withExtrapolation,
} from './cost-model.ts';

// What one day of a daily policy costs in billable requests, measured on the emulator with the real code: N
// volumes, each its own target, a daily schedule kept 7, a DR copy of each generation kept 7, manifests on,
// reconcile every 15 minutes. Eight days are replayed so the last one prunes as every day does from then on;
// its calls, counted by the fault layer (every SDK attempt), and its log volume (the Lambda logger's JSON lines)
// feed the cost model (cost-model.ts), which prices them and prints the monthly table docs/deploy.md records.
// Prints figures; asserts nothing. Sizes: BENCH_VOLUMES=10,100 (default).

// At most 100: copies are held in progress all at once, and a copy queue has at most 100 slots.
const SIZES = (process.env.BENCH_VOLUMES ?? '10,100').split(',').map(Number);
const DAYS = 8;
const DR = 'us-west-2';

const seam = newFaults();
// Copies stay in progress until released: one round of the copy worker finds every copy still copying, which
// is what each of AWS's in-progress checks costs.
const held = seam.copyLimit({ limit: 100, regions: [DR] });
let rru = 0;
seam.use({
  actions: ['GetItem', 'Query', 'BatchGetItem', 'Scan'],
  after: (output, call) => {
    rru += readUnitsOf(output, call.input);
    return output;
  },
});
const clients = new AwsClients({ maxAttempts: 3, middleware: [seam.pluggable()] });

/** The Lambda logger's output, as bytes: one JSON line per entry at INFO and above, as CloudWatch ingests it. */
let logBytes = 0;
const jsonLog: Log = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, data: Record<string, unknown> = {}) => {
      if (level === 'debug') return;
      const line = JSON.stringify({
        level: level.toUpperCase(),
        message,
        timestamp: '2026-12-03T02:00:00.000Z',
        service: 'snapkeeper',
        ...data,
      });
      logBytes += Buffer.byteLength(line) + 1;
    },
  ]),
) as unknown as Log;

const day = (n: number, hour: number, minute = 0) =>
  `2026-10-${String(n).padStart(2, '0')}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00.000Z`;
const at = (iso: string) => ({ now: () => new Date(iso) });

/** The calls and log bytes of `work`, with its wall-clock time on the emulator. */
async function measure(work: () => Promise<unknown>): Promise<Usage> {
  const from = seam.calls.length;
  const bytes = logBytes;
  const reads = rru;
  const started = performance.now();
  await work();
  return usageOf(seam.calls.slice(from), rru - reads, logBytes - bytes, performance.now() - started);
}

async function measureSize(volumes: number): Promise<Measured> {
  const policy = `cost${volumes}`;
  const config = parseConfig({
    region: 'us-east-1',
    catalog: { table: `cost-${volumes}-catalog` },
    manifests: { bucket: `cost-${volumes}-manifests`, region: DR },
    // As many copy slots as copies, so copies held in progress never wait for a slot.
    copyQueue: { name: `cost-${volumes}`, maxInFlight: 100 },
    policies: [
      {
        name: policy,
        targets: 'volumes',
        schedules: [{ name: 'daily', expression: 'cron(0 2 * * ? *)', keep: { count: 7 } }],
        copies: [{ region: DR, keep: { count: 7 } }],
      },
    ],
  });
  await ensureSandbox(config, clients);
  const queueUrl = await copyQueueUrl(clients.sqs(config.region) as SQSClient, config.copyQueue.name);
  const wiring = (iso: string) => ({ config, clients, clock: at(iso), log: jsonLog, copyQueueUrl: queueUrl });
  const ec2 = clients.ec2(config.region);
  for (let i = 0; i < volumes; i++) await aVolume(ec2, { tags: { 'snapkeeper:policy': policy } });

  let last: Measured['day'] | undefined;
  for (let n = 1; n <= DAYS; n++) {
    const run = await measure(() =>
      runSchedule({ policy, schedule: 'daily', scheduledAt: day(n, 2) }, runDeps(wiring(day(n, 2)))),
    );
    const afterRun = await measure(() => reconcile(reconcileDeps(wiring(day(n, 2, 15)))));
    const pump = async (iso: string) =>
      pumpCopyQueue(
        clients.sqs(config.region) as SQSClient,
        queueUrl,
        copyWorkerDeps(wiring(iso), queueUrl),
        {
          maxDelaySeconds: 0,
          maxRounds: 1,
        },
      );
    const started = held.started(DR);
    // Copies are held in progress: rounds of the worker until each of the day's copies has started, then one
    // sweep of the queue in which every copy is still copying (each message one in-progress check, which AWS
    // repeats while a copy runs), then the copies complete and the rounds after record them.
    const copyStart = await measure(async () => {
      while (held.started(DR) < started + volumes) await pump(day(n, 2, 20));
    });
    let checks = 0;
    const copyCheck = await measure(async () => {
      for (let round = 0; round < Math.ceil(volumes / 10); round++)
        checks += (await pump(day(n, 2, 25))).steps.length;
    });
    held.releaseAll();
    const copyFinish = await measure(async () => {
      while ((await pump(day(n, 2, 30))).rounds > 0) {}
    });
    const afterCopies = await measure(() => reconcile(reconcileDeps(wiring(day(n, 2, 45)))));
    const idle = await measure(() => reconcile(reconcileDeps(wiring(day(n, 3)))));
    last = {
      run,
      afterRun,
      copyStart,
      copyCheck: { ...copyCheck, per: checks },
      copyFinish,
      afterCopies,
      idle,
    };
    console.error(`  ${volumes} volumes: day ${n} replayed`);
  }
  if (!last) throw new Error('no day was replayed');
  return { volumes, day: last };
}

const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };

describe('orchestration cost', () => {
  // Measuring runs once, inside a bench: vitest's bench mode shows output from bench bodies.
  bench(
    'a day of a daily policy, priced',
    async () => {
      const measured: Measured[] = [];
      for (const volumes of SIZES) measured.push(await measureSize(volumes));
      console.log(
        renderCost(withExtrapolation(measured).map((m) => monthlyCost(m, !SIZES.includes(m.volumes)))),
      );
    },
    once,
  );
});
