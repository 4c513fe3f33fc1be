// Prices the calls cost.bench.ts measured: list prices of us-east-1, each cited, free tiers left out (so a small
// account pays less than this). The arithmetic is printed line by line; docs/deploy.md records the output.
import type { FaultCall } from '../harness/faults.ts';

/** What one unit of work used: billable requests by kind, log bytes and its time on the emulator. */
export interface Usage {
  wru: number;
  rru: number;
  sqs: number;
  s3Put: number;
  s3Get: number;
  secretReads: number;
  receives: number;
  logBytes: number;
  ms: number;
  /** Messages handled, for the copy check (a per-message figure). */
  per?: number;
}

export interface Measured {
  volumes: number;
  day: Record<'run' | 'afterRun' | 'copyStart' | 'copyCheck' | 'copyFinish' | 'afterCopies' | 'idle', Usage>;
}

// https://aws.amazon.com/lambda/pricing/ (Arm), https://aws.amazon.com/dynamodb/pricing/on-demand/,
// https://aws.amazon.com/sqs/pricing/, https://aws.amazon.com/s3/pricing/, https://aws.amazon.com/cloudwatch/pricing/,
// https://aws.amazon.com/secrets-manager/pricing/, https://aws.amazon.com/kms/pricing/
export const PRICE = {
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  wru: 0.625 / 1e6,
  rru: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  logGb: 0.5,
  alarm: 0.1,
  metric: 0.3,
  dashboard: 3,
  kmsKey: 1,
  secret: 0.4,
  secretCalls: 0.05 / 10_000,
} as const;

/** The example policy's shape: what the fixed lines count. */
const FIXED = {
  /** One policy: the stack's alarms for it (infra/alarms.ts and the copy queue's dead letters; one RPO alarm per policy). */
  alarms: 9,
  /**
   * Metric series (name × dimension values, service included): scheduled-run 6 per policy, reconcile 8 + 2 per
   * policy, copy-worker 3 per Region + 2 (functions/handlers/metrics.ts).
   */
  metrics: 6 + 8 + 2 + 3 + 2,
  /** Lambda's SQS pollers on the copy queue when it is empty: five long polls of 20 s (docs of the event source). */
  idlePolls: 5 * 3 * 60 * 24 * 30,
};

const DAYS_PER_MONTH = 30;
const PASSES_PER_DAY = 96;
/** Memory of the run and reconcile Lambdas and the copy worker (infra/snapkeeper-construct.ts, reconcile.ts, copies.ts). */
const GB = { run: 1, reconcile: 0.5, copy: 0.5 };

/**
 * In-progress checks of one copy lasting `seconds`: the copy step looks again after elapsed/16, between 30 s and
 * 120 s (copyStep in functions/core/copies/step.ts, jitter averaging out).
 */
export function checksPerCopy(seconds: number): number {
  let checks = 0;
  for (let t = 0; t < seconds; t += Math.min(120, Math.max(30, t / 16))) checks++;
  return checks;
}
/** The copy bench's median copy: 20 minutes (test/bench/copy-sim.ts). */
const COPY_SECONDS = 20 * 60;

/** A marshalled DynamoDB attribute's size as DynamoDB bills it, near enough: names and values in bytes. */
function attributeBytes(value: unknown): number {
  if (value === null || typeof value !== 'object') return 1;
  const entry = Object.entries(value as Record<string, unknown>).find(([, v]) => v !== undefined);
  if (!entry) return 1;
  const [type, inner] = entry;
  if (type === 'S' || type === 'B') return Buffer.byteLength(String(inner));
  if (type === 'N') return Math.ceil(String(inner).length / 2) + 1;
  if (type === 'M') return 3 + itemBytes(inner as Record<string, unknown>);
  if (type === 'L' || type.endsWith('S'))
    return 3 + (inner as unknown[]).reduce<number>((n, v) => n + attributeBytes(v), 0);
  return 1;
}
export function itemBytes(item: Record<string, unknown> = {}): number {
  return Object.entries(item).reduce(
    (n, [name, value]) => n + Buffer.byteLength(name) + attributeBytes(value),
    0,
  );
}

const kb = (bytes: number, unit: number) => Math.max(1, Math.ceil(bytes / unit));

/** Write request units of one call, from its input (an update is billed by the item it writes; its key and values stand in). */
function writeUnits(action: string, input: Record<string, unknown>): number {
  if (action === 'PutItem') return kb(itemBytes(input.Item as Record<string, unknown>), 1024);
  if (action === 'UpdateItem') {
    return kb(
      itemBytes(input.Key as Record<string, unknown>) +
        itemBytes(input.ExpressionAttributeValues as Record<string, unknown>),
      1024,
    );
  }
  if (action === 'DeleteItem') return 1;
  if (action === 'TransactWriteItems') {
    const items = (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[];
    return items.reduce((n, t) => {
      const op = Object.values(t)[0] ?? {};
      return n + 2 * kb(itemBytes((op.Item ?? op.Key) as Record<string, unknown>), 1024);
    }, 0);
  }
  if (action === 'BatchWriteItem') {
    const requests = Object.values(
      (input.RequestItems ?? {}) as Record<string, Record<string, Record<string, unknown>>[]>,
    ).flat();
    return requests.reduce(
      (n, r) =>
        n + kb(itemBytes((r.PutRequest?.Item ?? r.DeleteRequest?.Key) as Record<string, unknown>), 1024),
      0,
    );
  }
  return 0;
}

/** Read units of one DynamoDB answer: per 4 KB returned, half for an eventually consistent read. */
export function readUnitsOf(output: Record<string, unknown>, input: Record<string, unknown>): number {
  const items = [
    ...((output.Items ?? []) as Record<string, unknown>[]),
    ...(output.Item ? [output.Item as Record<string, unknown>] : []),
    ...Object.values((output.Responses ?? {}) as Record<string, Record<string, unknown>[]>).flat(),
  ];
  const bytes = items.reduce<number>((n, item) => n + itemBytes(item), 0);
  return kb(bytes, 4096) * (input.ConsistentRead ? 1 : 0.5);
}

/** `rru`: the read units the bench's after-rule counted for these calls (readUnitsOf). */
export function usageOf(calls: readonly FaultCall[], rru: number, logBytes: number, ms: number): Usage {
  const usage: Usage = { wru: 0, rru, sqs: 0, s3Put: 0, s3Get: 0, secretReads: 0, receives: 0, logBytes, ms };
  for (const call of calls) {
    // Throttled and injected failures never reached the service; an error answer (a failed condition) is billed.
    if (call.outcome !== 'ok' && call.outcome !== 'error') continue;
    if (call.service.startsWith('DynamoDB')) {
      usage.wru += writeUnits(call.action, call.input);
    } else if (call.service === 'SQS') {
      usage.sqs += 1;
      if (call.action === 'ReceiveMessage') usage.receives += 1;
    } else if (call.service === 'S3') {
      if (/^(Put|Copy|List|Create|Delete)/.test(call.action)) usage.s3Put += 1;
      else usage.s3Get += 1;
    } else if (call.service === 'SSM' && call.action === 'GetParameter') {
      // The sandbox keeps the mark key in SSM; the stack in Secrets Manager, read as often.
      usage.secretReads += 1;
    }
  }
  return usage;
}

/** Every figure of a `Usage`, summed and scaled alike. */
const USAGE_KEYS = [
  'wru',
  'rru',
  'sqs',
  's3Put',
  's3Get',
  'secretReads',
  'receives',
  'logBytes',
  'ms',
] as const;

function add(a: Usage, b: Usage, times = 1): Usage {
  const out = { ...a };
  for (const key of USAGE_KEYS) {
    out[key] = a[key] + b[key] * times;
  }
  return out;
}
export interface Monthly {
  volumes: number;
  extrapolated: boolean;
  lines: { what: string; arithmetic: string; dollars: number }[];
}

/** A month of the measured day: the run, two busy and 94 idle reconcile passes, the copies and their checks. */
export function monthlyCost(measured: Measured, extrapolated = false): Monthly {
  const d = measured.day;
  const perCheck = (d.copyCheck.per ?? 0) > 0 ? 1 / (d.copyCheck.per ?? 1) : 0;
  const checks = checksPerCopy(COPY_SECONDS) * measured.volumes;
  const copies = add(add(d.copyStart, d.copyFinish), d.copyCheck, checks * perCheck);
  const reconcile = add(add(d.afterRun, d.afterCopies), d.idle, PASSES_PER_DAY - 2);
  const dayTotal = add(add(d.run, reconcile), copies);
  const month = (n: number) => n * DAYS_PER_MONTH;
  // A run, the reconcile passes and a copy-worker invocation per batch received.
  const invocationsPerDay = 1 + PASSES_PER_DAY + copies.receives;
  const invocations = month(invocationsPerDay);
  const gbSeconds = month(
    (d.run.ms / 1000) * GB.run + (reconcile.ms / 1000) * GB.reconcile + (copies.ms / 1000) * GB.copy,
  );
  const logGb = month(dayTotal.logBytes + invocationsPerDay * 300) / 1e9;
  const sqs = month(dayTotal.sqs) + FIXED.idlePolls;
  const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
  const lines = [
    {
      what: 'Lambda requests',
      arithmetic: `${f(invocations)} invocations × $0.20/M`,
      dollars: invocations * PRICE.lambdaRequest,
    },
    {
      what: 'Lambda compute (Arm)',
      arithmetic: `${f(gbSeconds)} GB-s × $0.0000133334`,
      dollars: gbSeconds * PRICE.lambdaGbSecond,
    },
    {
      what: 'DynamoDB writes',
      arithmetic: `${f(month(dayTotal.wru))} WRU × $0.625/M`,
      dollars: month(dayTotal.wru) * PRICE.wru,
    },
    {
      what: 'DynamoDB reads',
      arithmetic: `${f(month(dayTotal.rru))} RRU × $0.125/M`,
      dollars: month(dayTotal.rru) * PRICE.rru,
    },
    {
      what: 'SQS',
      arithmetic: `(${f(month(dayTotal.sqs))} + ${f(FIXED.idlePolls)} idle polls) requests × $0.40/M`,
      dollars: sqs * PRICE.sqsRequest,
    },
    {
      what: 'S3 (manifests)',
      arithmetic: `${f(month(dayTotal.s3Put))} PUT/LIST × $0.005/1k + ${f(month(dayTotal.s3Get))} GET × $0.0004/1k`,
      dollars: month(dayTotal.s3Put) * PRICE.s3Put + month(dayTotal.s3Get) * PRICE.s3Get,
    },
    {
      what: 'CloudWatch Logs ingestion',
      arithmetic: `${f(logGb, 3)} GB × $0.50`,
      dollars: logGb * PRICE.logGb,
    },
    {
      what: 'CloudWatch alarms, metrics, dashboard',
      arithmetic: `${FIXED.alarms} alarms × $0.10 + ${FIXED.metrics} metrics × $0.30 + 1 dashboard × $3`,
      dollars: FIXED.alarms * PRICE.alarm + FIXED.metrics * PRICE.metric + PRICE.dashboard,
    },
    {
      what: 'KMS key, mark key secret',
      arithmetic: `$1 + $0.40 + ${f(month(dayTotal.secretReads))} reads × $0.05/10k`,
      dollars: PRICE.kmsKey + PRICE.secret + month(dayTotal.secretReads) * PRICE.secretCalls,
    },
  ];
  return { volumes: measured.volumes, extrapolated, lines };
}

/** The measured sizes, and 1,000 volumes extrapolated linearly from the two largest. */
export function withExtrapolation(measured: Measured[], to = 1000): Measured[] {
  const sorted = [...measured].sort((a, b) => a.volumes - b.volumes);
  const [a, b] = sorted.slice(-2);
  if (!a || !b || a.volumes === b.volumes || sorted.some((m) => m.volumes === to)) return sorted;
  const scale = (to - a.volumes) / (b.volumes - a.volumes);
  const day = Object.fromEntries(
    Object.entries(b.day).map(([unit, usage]) => {
      const from = a.day[unit as keyof Measured['day']];
      const out = { ...usage };
      for (const key of [...USAGE_KEYS, 'per'] as const) {
        out[key] = (from[key] ?? 0) + ((usage[key] ?? 0) - (from[key] ?? 0)) * scale;
      }
      return [unit, out];
    }),
  ) as Measured['day'];
  return [...sorted, { volumes: to, day }];
}

export function renderCost(months: Monthly[]): string {
  const money = (n: number) => `$${n < 10 ? n.toFixed(2) : n.toFixed(1)}`;
  const head = `| | ${months.map((m) => `${m.volumes} volumes${m.extrapolated ? ' (extrapolated)' : ''}`).join(' | ')} |`;
  const rows = (months[0]?.lines ?? []).map(
    (line, i) =>
      `| ${line.what} | ${months.map((m) => `${money(m.lines[i]?.dollars ?? 0)} (${m.lines[i]?.arithmetic})`).join(' | ')} |`,
  );
  const total = `| **Total per month** | ${months.map((m) => `**${money(m.lines.reduce((n, l) => n + l.dollars, 0))}**`).join(' | ')} |`;
  return ['', head, `|---|${months.map(() => '---|').join('')}`, ...rows, total].join('\n');
}
