import type { Config } from '#core/config/config.ts';
import type { CopyMessage, CopyQueue } from '#core/copies/ports.ts';
import { queueCopies } from '#core/copies/queue.ts';
import { type CopyStep, copyBatch } from '#core/copies/step.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Log } from '#core/model/ports.ts';
import { mulberry32 } from '../harness/fault-primitives.ts';
import { FakeCatalog } from '../support/fake-catalog.ts';
import { FakeCopySlots } from '../support/fake-copies.ts';
import { type FakeCopy, FakeCopyService } from '../support/fake-copy-service.ts';
import { FakeMarkKey } from '../support/fake-mark-key.ts';
import { FakeClock } from '../support/fakes.ts';

/**
 * A discrete-event simulation of the copy pipeline on a virtual clock: the real `queueCopies` and `copyBatch` over
 * the fakes, fed by a simulated SQS queue and Lambda event source. Every port call takes a seeded latency of
 * virtual time, during which the other tasks (the other poller, new generations completing) run, so the two
 * workers interleave as they would in AWS. Nothing waits in real time.
 */

/** A binary min-heap; `before(a, b)` < 0 when `a` comes out first. */
export class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (this.before(items[i] as T, items[parent] as T) >= 0) break;
      [items[i], items[parent]] = [items[parent] as T, items[i] as T];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < items.length && this.before(items[left] as T, items[least] as T) < 0) least = left;
      if (right < items.length && this.before(items[right] as T, items[least] as T) < 0) least = right;
      if (least === i) break;
      [items[i], items[least]] = [items[least] as T, items[i] as T];
      i = least;
    }
    return top;
  }
}

interface Alarm {
  at: number;
  done: boolean;
  resolve: () => void;
}

/**
 * Cooperative tasks on a `FakeClock`. A task only ever waits on `sleep`/`alarm`; once every live task waits, the
 * clock jumps to the earliest alarm. The fakes settle through microtasks alone, which is what makes "every task
 * waits" observable without real timers.
 */
export class VirtualTime {
  readonly clock = new FakeClock('2026-11-21T00:00:00.000Z');
  private current = this.clock.now().getTime();
  private readonly alarms = new Heap<{ at: number; seq: number; alarm: Alarm }>(
    (a, b) => a.at - b.at || a.seq - b.seq,
  );
  private seq = 0;
  private live = 0;
  private sleeping = 0;
  private settled?: () => void;
  private failure?: { error: unknown };

  now(): number {
    return this.current;
  }

  /** Moves the clock before any task runs. */
  startAt(at: number): void {
    this.clock.advance(at - this.current);
    this.current = at;
  }

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.set({ at: this.current + ms, done: false, resolve });
    });
  }

  /** Waits until `at`; `ringAt` brings it forward (a long poll answered early by a new message). */
  alarm(at: number): { rings: Promise<void>; ringAt: (earlier: number) => void } {
    const alarm: Alarm = { at: Math.max(at, this.current), done: false, resolve: () => {} };
    const rings = new Promise<void>((resolve) => {
      alarm.resolve = resolve;
    });
    this.set(alarm);
    const ringAt = (earlier: number) => {
      if (alarm.done || earlier >= alarm.at) return;
      alarm.at = Math.max(earlier, this.current);
      this.alarms.push({ at: alarm.at, seq: this.seq++, alarm });
    };
    return { rings, ringAt };
  }

  spawn(task: () => Promise<void>): void {
    this.live += 1;
    task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.live -= 1;
        this.check();
      });
  }

  /** Runs until every task has finished; rethrows the first error a task threw. */
  async run(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => {
        this.settled = resolve;
        this.check();
      });
      if (this.failure) throw this.failure.error;
      if (this.live === 0) return;
      const next = this.nextAlarm();
      if (!next) throw new Error('simulation deadlock: tasks wait with no alarm set');
      if (next.at > this.current) this.startAt(next.at);
      next.done = true;
      this.sleeping -= 1;
      next.resolve();
    }
  }

  private set(alarm: Alarm): void {
    this.alarms.push({ at: alarm.at, seq: this.seq++, alarm });
    this.sleeping += 1;
    this.check();
  }

  private nextAlarm(): Alarm | undefined {
    for (let entry = this.alarms.pop(); entry; entry = this.alarms.pop()) {
      // An alarm brought forward leaves its old entry behind.
      if (!entry.alarm.done && entry.at === entry.alarm.at) return entry.alarm;
    }
    return undefined;
  }

  private check(): void {
    if (this.settled && (this.failure || this.sleeping === this.live)) {
      const settled = this.settled;
      this.settled = undefined;
      settled();
    }
  }
}

/** A uniform latency in [min, max] ms, from a seeded stream. */
export type Latency = readonly [min: number, max: number];

/** `target` whose methods named in `latencies` first spend that long on the virtual clock, as a network call does. */
export function timed<T extends object>(
  target: T,
  time: VirtualTime,
  random: () => number,
  latencies: Partial<Record<keyof T, Latency>>,
): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const latency = latencies[property as keyof T];
        wrapper = latency
          ? async (...args: unknown[]) => {
              await time.sleep(latency[0] + random() * (latency[1] - latency[0]));
              return value.apply(object, args);
            }
          : value.bind(object);
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

interface Queued {
  id: string;
  message: CopyMessage;
  visibleAt: number;
  seq: number;
  receives: number;
}

/** The copy queue as SQS holds it: messages with the time they become visible, received up to 10 at a time. */
export class SimQueue implements CopyQueue {
  private readonly messages = new Heap<Queued>((a, b) => a.visibleAt - b.visibleAt || a.seq - b.seq);
  private seq = 0;
  /** Told when a message is put, so a long poll can answer early. */
  readonly listeners = new Set<(visibleAt: number) => void>();
  /** SendMessageBatch requests (10 messages each at most), and messages sent. */
  sendRequests = 0;
  messagesSent = 0;

  constructor(private readonly time: VirtualTime) {}

  async send(messages: readonly CopyMessage[], delaySeconds = 0): Promise<void> {
    this.sendRequests += Math.ceil(messages.length / 10);
    this.messagesSent += messages.length;
    const visibleAt = this.time.now() + Math.min(900, Math.max(0, Math.floor(delaySeconds))) * 1000;
    for (const message of messages) {
      this.put({ id: `msg-${this.seq}`, message: { ...message }, visibleAt, seq: this.seq++, receives: 0 });
    }
  }

  put(queued: Queued): void {
    this.messages.push(queued);
    for (const listener of this.listeners) listener(queued.visibleAt);
  }

  /** Up to `max` visible messages, each counted as received once more. */
  receive(max: number): Queued[] {
    const now = this.time.now();
    const taken: Queued[] = [];
    while (taken.length < max && (this.messages.peek()?.visibleAt ?? Number.POSITIVE_INFINITY) <= now) {
      const queued = this.messages.pop() as Queued;
      queued.receives += 1;
      taken.push(queued);
    }
    return taken;
  }

  nextVisibleAt(): number | undefined {
    return this.messages.peek()?.visibleAt;
  }

  get size(): number {
    return this.messages.size;
  }
}

/**
 * Runs `work` with `structuredClone` swapped for a plain deep copy of JSON-shaped data. The fakes copy every record
 * in and out with `structuredClone` (7 us a generation); a simulated day makes millions of such copies, and a plain
 * copy gives the same result for plain objects and arrays in a tenth of the time. Anything else (a Date, a Map, a
 * class instance) still goes to the real one, and the real one is put back afterwards.
 */
export async function withPlainCopies<T>(work: () => Promise<T>): Promise<T> {
  const real = globalThis.structuredClone;
  const copy = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(copy);
    if (Object.getPrototypeOf(value) !== Object.prototype) return real(value);
    const copied: Record<string, unknown> = {};
    for (const key in value) copied[key] = copy((value as Record<string, unknown>)[key]);
    return copied;
  };
  globalThis.structuredClone = ((value: unknown, options?: Parameters<typeof structuredClone>[1]) =>
    options ? real(value, options) : copy(value)) as typeof structuredClone;
  try {
    return await work();
  } finally {
    globalThis.structuredClone = real;
  }
}

/** A generation to copy, when it completes, and how long EBS takes to copy its snapshot. */
export interface CopyJob {
  generation: Generation;
  volume: number;
  /** 0 for a volume's first generation (a full copy), then 1, 2, ... (incremental). */
  index: number;
  completesAt: number;
  durationMs: number;
}

export type StepKind = 'done' | 'no slot' | 'older generation' | 'in progress' | 'EC2 quota' | 'other wait';

/** What a step answered, for the figures only: the reasons are words for people, not a contract. */
function kindOf(step: CopyStep): StepKind {
  if (step.outcome === 'done') return 'done';
  if (step.reason.startsWith('all ')) return 'no slot';
  if (step.reason.startsWith('older generation')) return 'older generation';
  if (step.reason === 'copies in progress') return 'in progress';
  if (step.reason.includes('copy quota is full')) return 'EC2 quota';
  return 'other wait';
}

/** What the event source and workers did, counted as SQS and Lambda would bill it. */
export interface PipelineCounts {
  receiveRequests: number;
  emptyReceives: number;
  deleteRequests: number;
  sendRequests: number;
  messagesDelivered: number;
  invocations: number;
  stepsThrown: number;
  deadLettered: number;
  /** Steps by what they answered: done, or why the message waits again. */
  steps: Record<StepKind, number>;
  ec2Describes: number;
}

const VISIBILITY_TIMEOUT_MS = 30 * 60_000;
const MAX_RECEIVES = 5;
const LONG_POLL_MS = 20_000;

/** Latencies of the AWS calls behind each port, in ms: DynamoDB single-digit, EC2's describe and copy slower. */
const LATENCY = {
  catalog: { get: [4, 12], byTarget: [6, 15], updateCopy: [6, 15] },
  slots: { acquire: [5, 12], release: [5, 12] },
  copies: { snapshotStates: [60, 200], copiesOfGeneration: [60, 200], copySnapshot: [150, 450] },
  queue: { send: [8, 25] },
  receive: [10, 30],
  delete: [8, 25],
  invoke: [15, 40],
} satisfies Record<string, Latency | Record<string, Latency>>;

const quiet: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * Runs the jobs through snapkeeper's copy pipeline to one Region: each generation's copies are queued by
 * `queueCopies` when it completes, and `pollers` event-source pollers take up to 10 visible messages at a time
 * through `copyBatch`. EC2 allows `quota` copies in flight; the config says what snapkeeper believes.
 */
export async function simulatePipeline(options: {
  config: Config;
  region: string;
  quota: number;
  jobs: readonly CopyJob[];
  pollers: number;
  seed: number;
}) {
  const time = new VirtualTime();
  const random = mulberry32(options.seed);
  const start = Math.min(...options.jobs.map((j) => j.completesAt));
  time.startAt(start);
  const durations = new Map(options.jobs.map((j) => [j.generation.snapshots[0]?.snapshotId, j.durationMs]));
  const catalog = new FakeCatalog();
  const slots = new FakeCopySlots();
  const service = new FakeCopyService({
    clock: time.clock,
    limit: options.quota,
    durationMs: (sourceId) => durations.get(sourceId) ?? 0,
  });
  const queue = new SimQueue(time);
  const deps = {
    config: options.config,
    catalog: timed(catalog, time, random, LATENCY.catalog),
    copies: timed(service, time, random, LATENCY.copies),
    slots: timed(slots, time, random, LATENCY.slots),
    copyQueue: timed(queue, time, random, LATENCY.queue),
    clock: time.clock,
    log: quiet,
    markKey: new FakeMarkKey(),
    random: mulberry32(options.seed + 1),
  };
  const counts: PipelineCounts = {
    receiveRequests: 0,
    emptyReceives: 0,
    deleteRequests: 0,
    sendRequests: 0,
    messagesDelivered: 0,
    invocations: 0,
    stepsThrown: 0,
    deadLettered: 0,
    steps: {
      done: 0,
      'no slot': 0,
      'older generation': 0,
      'in progress': 0,
      'EC2 quota': 0,
      'other wait': 0,
    },
    ec2Describes: 0,
  };
  const spend = (latency: Latency) => time.sleep(latency[0] + random() * (latency[1] - latency[0]));
  let arrivalsDone = false;
  let batchesRunning = 0;
  const finished = () => arrivalsDone && queue.size === 0 && batchesRunning === 0;
  const generationOf = new Map(
    options.jobs.map((j) => [j.generation.snapshots[0]?.snapshotId, j.generation.id]),
  );
  const archived: FakeCopy[] = [];
  /**
   * The fake scans every copy it ever started on each call; a day of polling over 1,000 copies makes that the
   * whole cost of the run. A copy EC2 finished and the catalog recorded complete is never asked about again
   * (ordering reads the record), so it is moved out of the fake and kept here for the figures.
   */
  const archive = async () => {
    for (const copy of [...service.copies.values()]) {
      if (copy.completesAt > time.now()) continue;
      const generation = await catalog.get(generationOf.get(copy.sourceId) ?? '');
      if (generation?.copies.find((c) => c.region === options.region)?.state !== 'completed') continue;
      archived.push(copy);
      service.delete(copy.id);
    }
  };

  time.spawn(async () => {
    for (const job of [...options.jobs].sort((a, b) => a.completesAt - b.completesAt)) {
      await time.alarm(job.completesAt).rings;
      catalog.seed(job.generation);
      await queueCopies(deps, job.generation);
    }
    arrivalsDone = true;
  });

  const poller = async () => {
    while (!finished()) {
      // One ReceiveMessage long poll: it answers as soon as a message is visible, or empty after 20 s.
      counts.receiveRequests += 1;
      let batch = queue.receive(10);
      if (batch.length === 0) {
        const until = Math.min(time.now() + LONG_POLL_MS, queue.nextVisibleAt() ?? Number.POSITIVE_INFINITY);
        const alarm = time.alarm(until);
        queue.listeners.add(alarm.ringAt);
        await alarm.rings;
        queue.listeners.delete(alarm.ringAt);
        batch = queue.receive(10);
      }
      if (batch.length > 0) batchesRunning += 1;
      await spend(LATENCY.receive);
      if (batch.length === 0) {
        counts.emptyReceives += 1;
        continue;
      }
      counts.invocations += 1;
      counts.messagesDelivered += batch.length;
      await spend(LATENCY.invoke);
      const result = await copyBatch(
        deps,
        batch.map((q) => ({ id: q.id, message: q.message })),
      );
      // Batch item failures stay in the queue: seen again after the visibility timeout, dead-lettered after five.
      for (const failed of result.failed) {
        counts.stepsThrown += 1;
        const queued = batch.find((q) => q.id === failed.id) as Queued;
        if (queued.receives >= MAX_RECEIVES) counts.deadLettered += 1;
        else queue.put({ ...queued, visibleAt: time.now() + VISIBILITY_TIMEOUT_MS });
      }
      await spend(LATENCY.delete);
      counts.deleteRequests += 1;
      batchesRunning -= 1;
      // The fakes log every call; keep the counts and let the logs go, or a day of polling fills the heap.
      for (const step of result.steps) counts.steps[kindOf(step)] += 1;
      slots.acquires.splice(0);
      counts.ec2Describes += service.calls.filter((c) => c.operation !== 'copySnapshot').length;
      service.calls.splice(0);
      if (counts.invocations % 100 === 0) await archive();
    }
  };
  for (let i = 0; i < options.pollers; i += 1) time.spawn(poller);
  await withPlainCopies(() => time.run());
  counts.sendRequests = queue.sendRequests;
  const copies = [...archived, ...service.copies.values()];
  const end = time.now();
  const busyMs = copies.reduce(
    (sum, c) => sum + c.slots * (Math.min(end, c.failedAt ?? c.completesAt) - c.startedAt),
    0,
  );
  return { start, end, catalog, service, copies, busyMs, counts };
}
