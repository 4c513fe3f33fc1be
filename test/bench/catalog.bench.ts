import { bench, describe } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { parseConfig } from '#core/config/config.ts';
import { type Generation, generationId } from '#core/model/generation.ts';
import { restoreVolume } from '#core/recovery/restore.ts';
import { catalogFor } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';

// The catalog's queries against the emulator with 1,000, 10,000 and 100,000 generations of one volume (an
// hourly history of 11 years at the top end): items read per query, counted from what DynamoDB returned, and
// the ratio to the smallest history measured in the same run. Keys and indexes serve every query, so the
// ratio should stay 1. Prints figures; asserts nothing. Sizes: BENCH_HISTORY=1000,10000,100000 (default).

const SIZES = (process.env.BENCH_HISTORY ?? '1000,10000,100000').split(',').map(Number);
const HOUR = 3_600_000;
const START = Date.parse('2015-01-01T00:00:00.000Z');
const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'bench-catalog' },
  policies: [
    {
      name: 'hourly',
      targets: 'volumes',
      schedules: [{ name: 'hourly', expression: 'cron(0 * * * ? *)', keep: { count: 24 } }],
    },
  ],
});

/** Items DynamoDB returned to the adapter, per query: Query pages and BatchGet responses. */
let itemsRead = 0;
const counting = newFaults().use({
  actions: ['Query', 'BatchGetItem'],
  after: (output) => {
    const responses = (output.Responses ?? {}) as Record<string, unknown[]>;
    itemsRead +=
      Number(output.Count ?? 0) + Object.values(responses).reduce((n, items) => n + items.length, 0);
    return output;
  },
});
const clients = new AwsClients({ middleware: [counting.pluggable()] });
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** One volume per history size, so each query sees exactly that much history. */
const volumeOf = (size: number) => `vol-0be${size.toString(16).padStart(14, '0')}`;

function history(volumeId: string, from: number, to: number): Generation[] {
  return Array.from({ length: to - from }, (_, i) => {
    const at = new Date(START + (from + i) * HOUR).toISOString();
    const target = { kind: 'volume' as const, id: volumeId };
    return {
      id: generationId('hourly', 'hourly', at, target),
      policy: 'hourly',
      schedule: 'hourly',
      target,
      scheduledAt: at,
      takenAt: at,
      claimedAt: at,
      state: 'completed' as const,
      consistency: 'crash' as const,
      snapshots: [
        {
          volumeId,
          snapshotId: `snap-${from + i}`,
          region: 'us-east-1',
          state: 'completed' as const,
          consistency: 'crash' as const,
          volumeTags: {},
        },
      ],
      copies: [],
      retentionAppliedAt: at,
      // All but the newest 24 have expired; prune has not run, so they are all still due.
      ...(to - (from + i) > 24 ? { expiresAt: new Date(START + (from + i + 24) * HOUR).toISOString() } : {}),
    };
  });
}

const queries: Record<string, (volumeId: string, size: number) => Promise<unknown>> = {
  'newest 20 of the volume': (v) => catalog.byVolume(v, { limit: 20 }),
  'newest at or before T (restore)': (v, size) =>
    restoreVolume(
      {
        volumeId: v,
        at: new Date(START + (size / 2) * HOUR + 1_800_000).toISOString(),
        availabilityZone: 'us-east-1a',
        dryRun: true,
      },
      {
        config,
        catalog,
        volumes: { availabilityZones: async () => ['us-east-1a'] } as never,
        clock: { now: () => new Date() },
        log: quiet,
        actor: 'bench',
      },
    ),
  'lineage page for retention (count 24)': (v) => catalog.lineage(v, 'hourly', 'hourly', { limit: 29 }),
  'due for pruning (one pass, 200)': () => catalog.expiring(new Date(START + 600 * HOUR).toISOString(), 200),
};

const catalog = catalogFor(config, clients);
const figures = new Map<number, Record<string, number>>();

const once = { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 };

describe('catalog queries as history grows', () => {
  // Loading and counting run once, inside a bench: vitest's bench mode shows output from bench bodies.
  bench(
    'items read per query',
    async () => {
      await ensureSandbox(config, clients);
      let loaded = 0;
      for (const size of SIZES) {
        const volumeId = volumeOf(size);
        const started = Date.now();
        // Each size is its own volume, so each query sees exactly that much history.
        for (let from = 0; from < size; from += 5000) {
          await catalog.importGenerations(history(volumeId, from, Math.min(size, from + 5000)));
        }
        loaded += size;
        console.error(
          `loaded ${size} generations of ${volumeId} in ${Math.round((Date.now() - started) / 1000)} s`,
        );
        const row: Record<string, number> = {};
        for (const [name, query] of Object.entries(queries)) {
          itemsRead = 0;
          await query(volumeId, size);
          row[name] = itemsRead;
        }
        figures.set(size, row);
      }
      const base = figures.get(SIZES[0] as number) ?? {};
      console.log(
        `\nItems read per query (ratio to ${SIZES[0]} generations), ${loaded} generations in the table:`,
      );
      for (const [size, row] of figures) {
        console.log(
          `  ${String(size).padStart(7)} generations: ${Object.entries(row)
            .map(([name, n]) => `${name} ${n} (${(n / (base[name] ?? n) || 1).toFixed(2)}x)`)
            .join(' · ')}`,
        );
      }
    },
    once,
  );
  // No latency figure: moto answers a Query by filtering the whole partition in Python, so its time grows
  // with history where DynamoDB's does not. What the catalog controls, and what is measured, is items read.
});
