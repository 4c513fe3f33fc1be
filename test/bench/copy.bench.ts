import { bench, describe } from 'vitest';
import { parseConfig } from '#core/config/config.ts';
import { CopyRefusedError } from '#core/model/errors.ts';
import { mulberry32 } from '../harness/fault-primitives.ts';
import { FakeCopyService } from '../support/fake-copy-service.ts';
import { aGeneration, FakeClock } from '../support/fakes.ts';
import { type CopyJob, Heap, simulatePipeline } from './copy-sim.ts';

// 1,000 generations (250 volumes × 4 runs of a 6-hourly schedule) copied to one DR Region through snapkeeper's
// real copy core (`queueCopies`, `copyBatch`) on a virtual clock, over the fakes: EC2 allows 20 copies in flight,
// copies take a seeded log-normal time (median 20 min, a volume's first, full copy 3× that, 3 min to 3 h). Prints
// slot utilisation while copies waited for a slot, limit errors absorbed and surfaced, and SQS cost per copy,
// against two baselines measured in the same run: the naive "copy on completion, a quota error is a failure"
// of simple tools, and an ideal greedy scheduler that starts the next copy the instant a slot frees. A second
// scenario gives EC2 a quota of 15 while snapkeeper believes 20 (another tool holds 5). Asserts nothing.

const REGION = 'us-west-2';
const VOLUMES = 250;
const RUNS = 4;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const START = Date.parse('2026-11-21T00:00:00.000Z');

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'bench-catalog' },
  copyQueue: { maxInFlight: 20 },
  policies: [
    {
      name: 'dr',
      targets: 'volumes',
      schedules: [{ name: 'six-hourly', expression: 'cron(0 0/6 * * ? *)', keep: { count: 28 } }],
      copies: [{ region: REGION }],
    },
  ],
});

/** Each run's snapshots complete 2-15 min after it is scheduled; then their copies are queued. */
function workload(seed: number): CopyJob[] {
  const random = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const clamp = (ms: number) => Math.min(3 * HOUR, Math.max(3 * MINUTE, ms));
  const jobs: CopyJob[] = [];
  for (let volume = 0; volume < VOLUMES; volume += 1) {
    const volumeId = `vol-0${(0xc0b000 + volume).toString(16).padStart(16, '0')}`;
    for (let index = 0; index < RUNS; index += 1) {
      const scheduledAt = START + index * 6 * HOUR;
      const incremental = clamp(20 * MINUTE * Math.exp(0.6 * normal()));
      jobs.push({
        generation: aGeneration({
          volumeId,
          policy: 'dr',
          schedule: 'six-hourly',
          scheduledAt: new Date(scheduledAt).toISOString(),
          takenAt: new Date(scheduledAt + 5_000).toISOString(),
        }),
        volume,
        index,
        completesAt: scheduledAt + (2 + 13 * random()) * MINUTE,
        durationMs: index === 0 ? clamp(3 * incremental) : incremental,
      });
    }
  }
  return jobs;
}

/** One copy's life: when it could have started (its generation completed, the previous one copied), and ran. */
interface Span {
  eligibleAt: number;
  startedAt: number;
  endedAt: number;
}

/** Busy slot-time inside the intervals where some copy was eligible but not started, over `slots` × their length. */
function whileWaiting(spans: readonly Span[], slots: number) {
  const waits = spans
    .filter((s) => s.startedAt > s.eligibleAt)
    .map((s) => [s.eligibleAt, s.startedAt] as const)
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [from, to] of waits) {
    const last = merged.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  const waitingMs = merged.reduce((sum, [from, to]) => sum + to - from, 0);
  let busyMs = 0;
  for (const span of spans) {
    for (const [from, to] of merged)
      busyMs += Math.max(0, Math.min(to, span.endedAt) - Math.max(from, span.startedAt));
  }
  return { waitingMs, utilisation: waitingMs > 0 ? busyMs / (slots * waitingMs) : 1 };
}

/** Perfect knowledge: each freed slot goes at once to the copy eligible longest, a target's copies in order. */
function idealGreedy(jobs: readonly CopyJob[], slots: number) {
  const byVolume = new Map<number, CopyJob[]>();
  for (const job of jobs) byVolume.set(job.volume, [...(byVolume.get(job.volume) ?? []), job]);
  for (const list of byVolume.values()) list.sort((a, b) => a.index - b.index);
  const ready = new Heap<{ job: CopyJob; eligibleAt: number }>((a, b) => a.eligibleAt - b.eligibleAt);
  for (const list of byVolume.values())
    ready.push({ job: list[0] as CopyJob, eligibleAt: (list[0] as CopyJob).completesAt });
  const free = new Heap<number>((a, b) => a - b);
  for (let i = 0; i < slots; i += 1) free.push(Number.NEGATIVE_INFINITY);
  const spans: Span[] = [];
  for (let next = ready.pop(); next; next = ready.pop()) {
    const startedAt = Math.max(free.pop() as number, next.eligibleAt);
    const endedAt = startedAt + next.job.durationMs;
    free.push(endedAt);
    spans.push({ eligibleAt: next.eligibleAt, startedAt, endedAt });
    const after = byVolume.get(next.job.volume)?.[next.job.index + 1];
    if (after) ready.push({ job: after, eligibleAt: Math.max(after.completesAt, endedAt) });
  }
  const start = Math.min(...jobs.map((j) => j.completesAt));
  return {
    makespanMs: Math.max(...spans.map((s) => s.endedAt)) - start,
    lastStartMs: Math.max(...spans.map((s) => s.startedAt)) - start,
    ...whileWaiting(spans, slots),
  };
}

/** Simple tools: CopySnapshot the moment a generation completes; EC2's quota error is a failed copy, never retried. */
async function naive(jobs: readonly CopyJob[], quota: number) {
  const clock = new FakeClock(new Date(START).toISOString());
  const durations = new Map(jobs.map((j) => [j.generation.snapshots[0]?.snapshotId, j.durationMs]));
  const ec2 = new FakeCopyService({ clock, limit: quota, durationMs: (id) => durations.get(id) ?? 0 });
  let failed = 0;
  for (const job of [...jobs].sort((a, b) => a.completesAt - b.completesAt)) {
    clock.advance(job.completesAt - clock.now().getTime());
    const sourceSnapshotId = job.generation.snapshots[0]?.snapshotId ?? '';
    try {
      await ec2.copySnapshot({
        region: REGION,
        sourceRegion: 'us-east-1',
        sourceSnapshotId,
        tags: {},
        description: '',
      });
    } catch (error) {
      if (!(error instanceof CopyRefusedError && error.refusal === 'limit')) throw error;
      failed += 1;
    }
  }
  return { failed };
}

async function snapkeeper(jobs: readonly CopyJob[], quota: number) {
  const wallStarted = performance.now();
  const run = await simulatePipeline({ config, region: REGION, quota, jobs, pollers: 2, seed: 11 });
  const wallMs = performance.now() - wallStarted;
  const ec2 = new Map(run.copies.map((c) => [c.sourceId, c]));
  const records = new Map(run.catalog.all().map((g) => [g.id, g.copies.find((c) => c.region === REGION)]));
  const byPlace = new Map(jobs.map((j) => [`${j.volume}#${j.index}`, j]));
  const spans: Span[] = [];
  const heldAfterMs: number[] = [];
  let lastRecorded = run.start;
  let outOfOrder = 0;
  for (const job of jobs) {
    const copy = ec2.get(job.generation.snapshots[0]?.snapshotId ?? '');
    const record = records.get(job.generation.id);
    if (!copy || record?.state !== 'completed' || !record.completedAt) continue;
    const recordedAt = Date.parse(record.completedAt);
    lastRecorded = Math.max(lastRecorded, recordedAt);
    heldAfterMs.push(recordedAt - copy.completesAt);
    const previous = byPlace.get(`${job.volume}#${job.index - 1}`);
    const previousEnded = previous
      ? (ec2.get(previous.generation.snapshots[0]?.snapshotId ?? '')?.completesAt ?? 0)
      : 0;
    if (copy.startedAt < previousEnded) outOfOrder += 1;
    spans.push({
      eligibleAt: Math.max(job.completesAt, previousEnded),
      startedAt: copy.startedAt,
      endedAt: copy.completesAt,
    });
  }
  const makespanMs = lastRecorded - run.start;
  const completed = [...records.values()].filter((r) => r?.state === 'completed').length;
  heldAfterMs.sort((a, b) => a - b);
  return {
    wallMs,
    makespanMs,
    lastStartMs: Math.max(...spans.map((s) => s.startedAt)) - run.start,
    completed,
    outOfOrder,
    failedRecords: [...records.values()].filter((r) => r?.state === 'failed').length,
    ...whileWaiting(spans, quota),
    plainUtilisation: run.busyMs / (quota * makespanMs),
    limitErrors: run.service.limitErrors(REGION),
    started: run.service.started(REGION),
    maxInFlight: run.service.maxInFlight(REGION),
    heldAfterMeanMs: heldAfterMs.reduce((a, b) => a + b, 0) / Math.max(1, heldAfterMs.length),
    heldAfterP95Ms: heldAfterMs[Math.ceil(0.95 * heldAfterMs.length) - 1] ?? 0,
    ...run.counts,
  };
}

const hours = (ms: number) => `${(ms / HOUR).toFixed(2)} h`;
const percent = (x: number) => `${(100 * x).toFixed(1)} %`;
const perCopy = (n: number, copies: number) => (n / copies).toFixed(1);

async function scenario(name: string, jobs: readonly CopyJob[], quota: number) {
  const [sk, ideal, simple] = [
    await snapkeeper(jobs, quota),
    idealGreedy(jobs, quota),
    await naive(jobs, quota),
  ];
  const copies = jobs.length;
  const sqs = sk.receiveRequests + sk.sendRequests + sk.deleteRequests;
  return {
    name,
    rows: [
      ['copies completed', `${sk.completed} of ${copies} (${sk.started} CopySnapshot started)`],
      ['makespan (first queued -> last recorded)', hours(sk.makespanMs)],
      ['  ideal greedy makespan', hours(ideal.makespanMs)],
      ['  snapkeeper / ideal', `${(sk.makespanMs / ideal.makespanMs).toFixed(3)}x`],
      ['last copy started (snapkeeper / ideal)', `${hours(sk.lastStartMs)} / ${hours(ideal.lastStartMs)}`],
      ['time some copy waited for a slot', hours(sk.waitingMs)],
      ["slot utilisation while copies waited (of EC2's quota)", percent(sk.utilisation)],
      ['  ideal greedy, same measure', percent(ideal.utilisation)],
      ['utilisation over the whole makespan', percent(sk.plainUtilisation)],
      ['max in flight (EC2)', `${sk.maxInFlight} / ${quota}`],
      ['copies started before the previous generation copied', String(sk.outOfOrder)],
      ['limit errors EC2 answered (absorbed)', String(sk.limitErrors)],
      [
        'limit errors surfaced as failures',
        `snapkeeper ${sk.failedRecords + sk.stepsThrown} vs naive ${simple.failed}`,
      ],
      [
        '  failed records / steps thrown / dead-lettered',
        `${sk.failedRecords} / ${sk.stepsThrown} / ${sk.deadLettered}`,
      ],
      [
        'SQS requests per copy (receive+send+delete)',
        `${perCopy(sqs, copies)} (${perCopy(sk.receiveRequests, copies)} + ${perCopy(sk.sendRequests, copies)} + ${perCopy(sk.deleteRequests, copies)})`,
      ],
      ['  messages delivered per copy', perCopy(sk.messagesDelivered, copies)],
      ['  Lambda invocations per copy', perCopy(sk.invocations, copies)],
      [
        '  steps per copy: no slot / older gen / in progress / quota',
        (['no slot', 'older generation', 'in progress', 'EC2 quota'] as const)
          .map((kind) => perCopy(sk.steps[kind], copies))
          .join(' / '),
      ],
      ['  EC2 describe calls per copy', perCopy(sk.ec2Describes, copies)],
      [
        'slot held after EC2 finished (mean / p95)',
        `${(sk.heldAfterMeanMs / 1000).toFixed(0)} s / ${(sk.heldAfterP95Ms / 1000).toFixed(0)} s`,
      ],
      ['simulation wall time', `${(sk.wallMs / 1000).toFixed(1)} s`],
    ] as [string, string][],
  };
}

describe('DR copies through the copy quota', () => {
  bench(
    '1,000 generations through 20 copy slots',
    async () => {
      const jobs = workload(2026);
      const results = [
        await scenario('EC2 quota 20, snapkeeper 20', jobs, 20),
        await scenario('EC2 quota 15, snapkeeper 20', jobs, 15),
      ];
      const work = jobs.reduce((sum, j) => sum + j.durationMs, 0);
      const rows = results[0]?.rows ?? [];
      const width = Math.max(...rows.map(([label]) => label.length)) + 2;
      const column =
        Math.max(
          ...results.flatMap((r) => [r.name, ...r.rows.map(([, value]) => value)].map((v) => v.length)),
        ) + 3;
      const lines = [
        `\ncopy bench: ${jobs.length} generations (${VOLUMES} volumes x ${RUNS} runs, 6 h apart) to one Region; ${hours(work)} of copying in all (${(work / jobs.length / MINUTE).toFixed(1)} min mean); 2 pollers, batches of 10`,
        `  ${''.padEnd(width)}${results.map((r) => r.name.padEnd(column)).join('')}`,
        ...rows.map(([label], i) =>
          `  ${label.padEnd(width)}${results.map((r) => (r.rows[i]?.[1] ?? '').padEnd(column)).join('')}`.trimEnd(),
        ),
      ];
      console.log(lines.join('\n'));
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
