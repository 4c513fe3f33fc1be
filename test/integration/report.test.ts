import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogKeys } from '#adapters/catalog/layout.ts';
import { AwsClients } from '#adapters/clients.ts';
import { runCli } from '#cli/main.ts';
import { parseConfig } from '#core/config/config.ts';
import type { Report } from '#core/report/report.ts';
import { faults as newFaults } from '../harness/faults.ts';
import { Chromium, ensureChromium } from '../support/chromium.ts';
import { cli } from '../support/cli.ts';
import { anInstance, aVolume, type SeededInstance } from '../support/fleet.ts';
import { decodePng, drawnPixels } from '../support/png.ts';

// `snapkeeper report` on a replayed history against the emulator: twelve hours of an hourly schedule with its
// 05:00 run missed, its 07:00 run failed (EC2 refuses the create) and the DR copies of 09:00 and 10:00 made late
// (at 11:05), then reports as of times inside it.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'report-catalog' },
  policies: [
    {
      name: 'std',
      targets: 'instances',
      schedules: [{ name: 'hourly', expression: 'cron(0 * * * ? *)', keep: { count: 48 } }],
      copies: [{ region: 'us-west-2' }],
    },
  ],
});
const folder = mkdtempSync(join(tmpdir(), 'snapkeeper-report-'));
const file = join(folder, 'config.json');
const ec2 = new EC2Client({ region: 'us-east-1' });
// EC2 reports FullSnapshotSizeInBytes in AWS; the emulator does not, so the fault layer adds 1 GiB to each.
const GIB = 1024 ** 3;
let refuseCreates = false;
const seam = newFaults()
  .transform('DescribeSnapshots', (output) => ({
    ...output,
    Snapshots: ((output.Snapshots as Record<string, unknown>[] | undefined) ?? []).map((s) => ({
      ...s,
      FullSnapshotSizeInBytes: GIB,
    })),
  }))
  .fail('CreateSnapshots', { name: 'InvalidParameterValue', httpStatusCode: 400, when: () => refuseCreates });
const clients = new AwsClients({ maxAttempts: 2, middleware: [seam.pluggable()] });
const DAY = '2026-11-20';
const hour = (h: number, minutes = 0) =>
  `${DAY}T${String(h).padStart(2, '0')}:${String(minutes).padStart(2, '0')}:00.000Z`;
let web: SeededInstance;
let loose: string;
let mistagged: string;
let stray: SeededInstance;

async function ok(args: string[]) {
  const result = await cli([...args, '--config', file, '--quiet'], clients);
  expect(result.status, result.stderr).toBe(0);
  return result;
}

async function report(at: string, ...flags: string[]) {
  const result = await cli(['report', '--at', at, '--json', '--config', file, ...flags], clients);
  return { ...result, report: JSON.parse(result.stdout) as Report };
}

/** A drill outcome as the drill records it in the catalog (the item shape `DrillRecordSchema` reads). */
async function recordDrill(targetId: string, finishedAt: string, rtoSeconds: number) {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const id = `drill-${finishedAt}`;
  await db.send(
    new PutCommand({
      TableName: config.catalog.table,
      Item: {
        ...catalogKeys.drill(targetId, finishedAt, id),
        id,
        targetId,
        generationId: 'gen-any',
        startedAt: new Date(Date.parse(finishedAt) - rtoSeconds * 1000).toISOString(),
        finishedAt,
        outcome: 'passed',
        rtoSeconds,
      },
    }),
  );
}

beforeAll(async () => {
  writeFileSync(file, JSON.stringify(config));
  await ok(['init']);
  web = await anInstance(ec2, { tags: { Name: 'web-1', 'snapkeeper:policy': 'std' }, dataVolumes: 1 });
  stray = await anInstance(ec2, { tags: { Name: 'stray' }, dataVolumes: 0 });
  loose = await aVolume(ec2, { tags: { Name: 'loose' } });
  mistagged = await aVolume(ec2, { tags: { Name: 'reports', 'snapkeeper:policy': 'dialy' } });
  for (let h = 0; h < 12; h++) {
    if (h === 5) continue; // the missed run: no delivery at 05:00
    // The failed run: EC2 refuses the create, the run exits 1 and records the generation failed.
    refuseCreates = h === 7;
    const run = await cli(
      ['run', '-p', 'std', '-s', 'hourly', '--at', hour(h), '--config', file, '--quiet'],
      clients,
    );
    expect(run.status, run.stderr).toBe(h === 7 ? 1 : 0);
    refuseCreates = false;
    // Reconcile queues the DR copy of what completed; the copy worker then makes it.
    await ok(['reconcile', '--at', hour(h, 2)]);
    // The DR copies of 09:00 and 10:00 are late: the copy worker only gets to them at 11:05.
    if (h !== 9 && h !== 10) await ok(['copy', '--at', hour(h, 5), '--max-delay', '0']);
  }
  await recordDrill(web.instanceId, hour(7), 420);
  await recordDrill(web.instanceId, hour(10, 45), 300);
}, 300_000);

describe('report --json on a replayed history', () => {
  let during: Report;
  let after: Report;

  beforeAll(async () => {
    during = (await report(hour(10, 30))).report;
    after = (await report(hour(11, 20))).report;
  });

  const target = (r: Report) => r.policies[0]?.targets.find((t) => t.id === web.instanceId);

  it('has the shape of issue 13: policies with targets, unprotected, problems', () => {
    expect(Object.keys(during)).toEqual(
      expect.arrayContaining(['policies', 'unprotected', 'problems', 'at', 'window']),
    );
    expect(during.policies.map((p) => p.name)).toEqual(['std']);
    expect(Object.keys(target(during) ?? {})).toEqual(
      expect.arrayContaining(['id', 'rpoSeconds', 'drRpoSeconds', 'rtoSeconds', 'schedules', 'storage']),
    );
  });

  it('gives the RPO as the age of the newest completed generation, with its consistency', () => {
    expect(target(during)?.rpoSeconds).toBe(30 * 60);
    expect(target(during)?.newest).toMatchObject({
      takenAt: expect.stringMatching(/^2026-11-20T10:00/),
      consistency: 'crash',
    });
    expect(target(after)?.rpoSeconds).toBe(20 * 60);
  });

  it('counts copy lag in the DR RPO: while the 09:00 and 10:00 copies are late, us-west-2 holds 08:00 at best', () => {
    expect(target(during)?.dr).toEqual([
      expect.objectContaining({ region: 'us-west-2', rpoSeconds: 2.5 * 3600, breach: true }),
    ]);
    expect(target(during)?.drRpoSeconds).toBe(2.5 * 3600);
    // Once they land (11:05), the Region holds 11:00.
    expect(target(after)?.dr[0]).toMatchObject({ rpoSeconds: 20 * 60, breach: false });
    const late = target(after)?.timeline.find((g) => g.scheduledAt === hour(9));
    expect(late?.copies[0]?.lagSeconds).toBeGreaterThanOrEqual(2 * 3600);
    // As of 10:30 the same copy was still being made.
    expect(target(during)?.timeline.find((g) => g.scheduledAt === hour(9))?.copies[0]?.state).toBe('pending');
  });

  it('finds the missed run, the failed run and the gaps they left against the hourly interval', () => {
    const hourly = target(after)?.schedules[0];
    expect(hourly).toMatchObject({
      schedule: 'hourly',
      intervalSeconds: 3600,
      missed: [hour(5)],
      failed: [hour(7)],
    });
    expect(hourly?.longestGapSeconds).toBe(2 * 3600);
    expect(hourly?.breaches).toEqual([
      expect.objectContaining({ to: expect.stringMatching(/^2026-11-20T06:00/), seconds: 7200 }),
      expect.objectContaining({ to: expect.stringMatching(/^2026-11-20T08:00/), seconds: 7200 }),
    ]);
    expect(hourly?.breach).toBe(false);
    // Occurrences before the target's first generation were not its to take.
    expect(hourly?.due).toBe(12);
  });

  it('reads the RTO from the newest drill finished by then, and says when there is none', async () => {
    expect(target(during)?.rtoSeconds).toBe(420);
    expect(target(after)?.rtoSeconds).toBe(300);
    expect((await report(hour(6))).report.policies[0]?.targets[0]?.rtoSeconds).toBeNull();
  });

  it('counts the live snapshots and sums the FullSnapshotSizeInBytes EC2 reports for them', () => {
    const storage = target(after)?.storage;
    // 10 completed generations of a boot and a data volume (05:00 missed, 07:00 failed), all kept, each copied.
    expect(storage).toMatchObject({
      snapshots: 20,
      copySnapshots: 20,
      sizedSnapshots: 20,
      fullSizeBytes: 20 * GIB,
    });
  });

  it('lists what nothing protects, and the tag values that name no policy', () => {
    expect(after.unprotected.map((u) => u.id).sort()).toEqual(
      [stray.instanceId, stray.bootVolumeId, loose, mistagged].sort(),
    );
    expect(after.unprotected.find((u) => u.id === loose)).toMatchObject({ kind: 'volume', name: 'loose' });
    expect(after.problems).toEqual([
      expect.objectContaining({ resourceId: mistagged, kind: 'volume', policy: 'dialy' }),
    ]);
  });

  it('--fail-over-rpo exits 1 while a target is beyond its interval, 0 once none is', async () => {
    const breaching = await report(hour(10, 30), '--fail-over-rpo');
    expect(breaching.status).toBe(1);
    expect(breaching.report.breaches).toEqual([{ policy: 'std', target: web.instanceId }]);
    expect((await report(hour(11, 20), '--fail-over-rpo')).status).toBe(0);
    // Primary RPO alone: 05:40 is 1h40m after the 04:00 generation, past 1h + the grace.
    const missed = await report(hour(5, 40), '--fail-over-rpo');
    expect(missed.status).toBe(1);
    expect(missed.report.policies[0]?.targets[0]?.schedules[0]?.breach).toBe(true);
  });
});

describe('report as text', () => {
  it('fits the table to the terminal width, naming the columns it left out', async () => {
    for (const columns of [72, 100, 200]) {
      let stdout = '';
      const status = await runCli(['report', '--at', hour(11, 20), '--config', file], {
        stdout: (text) => {
          stdout += text;
        },
        stderr: () => {},
        clients,
        columns,
      });
      expect(status).toBe(0);
      const table = stdout.split('\n\n')[1] ?? '';
      const rows = table.split('\n').filter((l) => !l.startsWith('(not shown'));
      expect(Math.max(...rows.map((l) => [...l].length))).toBeLessThanOrEqual(columns);
      expect(table).toContain(web.instanceId.slice(0, 6));
      if (columns === 200) expect(table).not.toContain('not shown');
      else expect(table).toMatch(/not shown at this width: .*SIZE/);
    }
  });

  it('prints the missed run, the unprotected and the unknown names in words', async () => {
    const { stdout, status } = await cli(['report', '--at', hour(11, 20), '--config', file], clients);
    expect(status).toBe(0);
    expect(stdout).toContain(`std/hourly ${web.instanceId}: 1 missed (${hour(5)}), 1 failed`);
    expect(stdout).toContain(`volume ${loose} (loose): no snapkeeper:policy tag and no generation`);
    expect(stdout).toContain(`volume ${mistagged}: snapkeeper:policy names "dialy", which is no policy`);
  });
});

describe('report with bad flags', () => {
  it.each([
    [['--window', '0'], /--window.*whole number of 1 or more/],
    [['--at', 'yesterday'], /--at.*ISO-8601/],
    [['--at', '2999-01-01T00:00:00Z'], /--at 2999-01-01T00:00:00.000Z is after now.*drop --at/],
    [['--policy', 'nope'], /no policy named "nope".*policies: std/],
    [
      ['--html', '/nonexistent-folder/r.html'],
      /--html \/nonexistent-folder\/r.html: cannot write there.*folder that exists/,
    ],
    [['--windwo', '3'], /unknown option '--windwo'\s+\(Did you mean --window\?\)/],
  ])('%j exits 2 naming the flag and the fix', async (flags, message) => {
    const result = await cli(['report', '--config', file, ...flags], clients);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('report --html in headless Chromium', () => {
  let chromium: Chromium;
  let page: string;

  beforeAll(async () => {
    chromium = new Chromium(ensureChromium());
    page = join(folder, 'report.html');
    const { stdout, status } = await cli(
      ['report', '--at', hour(10, 30), '--html', page, '--config', file],
      clients,
    );
    expect(status).toBe(0);
    expect(stdout).toContain(`HTML report written to ${page}`);
  }, 180_000);

  afterAll(async () => {
    await chromium?.close();
  });

  it('is one self-contained page: nothing to fetch', () => {
    const html = readFileSync(page, 'utf8');
    expect(html).not.toMatch(/<link|src=|url\(|@import|https?:\/\//);
    expect(html).toContain('<svg class="timeline"');
  });

  it('draws the timeline with the missed run, the gap and the late copy, and logs no console error', async () => {
    const visit = await chromium.visit(
      pathToFileURL(page).href,
      'svg.timeline, .missed, .gap, .copy, #unprotected',
    );
    expect(visit.errors).toEqual([]);
    const image = decodePng(visit.screenshot);
    const [timeline] = visit.boxes;
    expect(timeline?.width).toBeGreaterThan(500);
    // Generations, lanes, the shaded gap and the crossed run: far more than a blank box's 0 drawn pixels.
    expect(drawnPixels(image, timeline ?? { x: 0, y: 0, width: 0, height: 0 })).toBeGreaterThan(1500);
    const html = readFileSync(page, 'utf8');
    expect(html.match(/class="missed"/g)).toHaveLength(1);
    expect(html.match(/class="gap"/g)).toHaveLength(2); // 04:00 to 06:00, 06:00 to 08:00
    expect(html).toContain('stroke-dasharray'); // the late copies, still being made at 10:30
    expect(html).toContain(stray.instanceId);
  });

  it('would see an error and a blank timeline (the checks can fail)', async () => {
    const broken = join(folder, 'broken.html');
    writeFileSync(
      broken,
      '<!doctype html><svg class="timeline" width="600" height="80"></svg><script>nope()</script>',
    );
    const visit = await chromium.visit(pathToFileURL(broken).href, 'svg.timeline');
    expect(visit.errors.join('\n')).toContain('nope is not defined');
    const image = decodePng(visit.screenshot);
    expect(drawnPixels(image, visit.boxes[0] ?? { x: 0, y: 0, width: 1, height: 1 })).toBe(0);
  });
});
