import { writeFileSync } from 'node:fs';
import { CreateSnapshotCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { tagList } from '#adapters/ec2/snapshots.ts';
import { consoleLog } from '#cli/console-log.ts';
import { copyQueueUrl, ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import type { ReconcileDryRun } from '#core/lifecycle/dry-run.ts';
import { type ReconcileReport, reconcile } from '#core/lifecycle/reconcile.ts';
import { TAG } from '#core/model/tags.ts';
import { createReconcileHandler } from '#handlers/reconcile.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { type FaultCall, faults as newFaults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { aConfig, aPolicy } from '../support/fakes.ts';
import { aVolume } from '../support/fleet.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { metricsRecorder } from '../support/metrics.ts';

// `reconcile --dry-run` and the reconcile Lambda's `{ "dryRun": true }` on the emulator: every call the dry run
// makes is seen by the fault layer, none of them writes, and a real pass right after does what it said.

const schedule = (count: number) => [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count } }];
const config = aConfig({
  catalog: { table: 'dry-run-catalog' },
  policies: [
    aPolicy({ targets: 'volumes', schedules: schedule(2) }),
    aPolicy({
      name: 'offsite',
      targets: 'volumes',
      schedules: schedule(1),
      copies: [{ region: 'us-west-2' }],
    }),
  ],
});
const file = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-dry-run-${process.pid}.json`;
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
// Nights 1 to 3 are replayed on a simulated clock, ten days back; night 4 runs now, so that EC2's own start times
// of its snapshots fall inside its claim's window, as in AWS (the orphan sweep checks them).
const start =
  Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - 10 * 86_400_000;
const day = (n: number, hour = 3) => new Date(start + n * 86_400_000 + hour * 3_600_000).toISOString();
const at = (iso: string) => ({ now: () => new Date(iso) });
let queueUrl: string;

/** Writes of any service: what a dry run must never send. */
const MUTATING =
  /^(Create|Delete|Put|Update|TransactWrite|BatchWrite|SendMessage|Deregister|Register|Copy|Modify|Enable|Disable|Start|Stop|Terminate|Attach|Detach|Tag|Untag|Import|Restore)/;
const writesIn = (calls: readonly FaultCall[]) => calls.filter((c) => MUTATING.test(c.action));

/** Night `n`'s runs; on the real clock when `now`. */
async function night(n: number, clients = new AwsClients(), now = false) {
  for (const policy of ['daily', 'offsite']) {
    const request = { policy, schedule: 'daily', scheduledAt: day(n) };
    const clock = now ? {} : { clock: at(day(n)) };
    await runSchedule(request, runDeps({ config, clients, ...clock, log, copyQueueUrl: queueUrl }));
  }
}

/** The reconcile ports of the pass after night `n`, or of one now. */
const pass = (n: number | 'now', clients = new AwsClients()) =>
  reconcileDeps({
    config,
    clients,
    ...(n === 'now' ? {} : { clock: at(day(n, 4)) }),
    log,
    copyQueueUrl: queueUrl,
  });

/** The report without what only a dry run adds, nor the recovery points' ages, which grow as the test runs. */
function asReport(report: ReconcileReport | ReconcileDryRun) {
  const { dryRun: _flag, actions: _actions, writes: _writes, ...rest } = report as ReconcileDryRun;
  return { ...rest, rpo: rest.rpo.map(({ rpoSeconds: _age, ...rpo }) => rpo) };
}

let daily: string;
let extra: string;
let forged: string;

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
  queueUrl = await copyQueueUrl(new AwsClients().sqs(config.region), config.copyQueue.name);
  writeFileSync(file, JSON.stringify(config));
  daily = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'daily' } });
  await aVolume(ec2, { tags: { 'snapkeeper:policy': 'offsite' } });
  for (let n = 1; n <= 3; n++) {
    await night(n);
    await reconcile(pass(n));
  }
  // Night 4's snapshots are recorded pending, as EBS answers; the pass is what completes them.
  await night(
    4,
    new AwsClients({ middleware: [newFaults().pendingSnapshots({ forCalls: 0 }).pluggable()] }),
    true,
  );
  // Two snapshots its record lacks: snapkeeper's own second one (same tags and mark), and a forged one.
  const [recorded] = (await catalogFor(config, new AwsClients()).byVolume(daily))[0]?.snapshots ?? [];
  const [made] =
    (
      await ec2.send(
        new DescribeSnapshotsCommand({
          Filters: [{ Name: 'snapshot-id', Values: [recorded?.snapshotId ?? ''] }],
        }),
      )
    ).Snapshots ?? [];
  const tags = Object.fromEntries((made?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const snapshot = async (withTags: Record<string, string>) =>
    (
      await ec2.send(
        new CreateSnapshotCommand({
          VolumeId: daily,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(withTags) }],
        }),
      )
    ).SnapshotId ?? '';
  extra = await snapshot(tags);
  forged = await snapshot({ [TAG.managed]: 'true', [TAG.generation]: tags[TAG.generation] ?? '' });
}, 120_000);

describe('a reconcile dry run', () => {
  let planned: ReconcileDryRun;
  let text: string;
  const seen = newFaults();

  beforeAll(async () => {
    const clients = new AwsClients({ middleware: [seen.pluggable()] });
    const asked = await cli(['reconcile', '--dry-run', '--json', '--config', file], clients);
    expect(asked.status).toBe(0);
    planned = JSON.parse(asked.stdout) as ReconcileDryRun;
    text = (await cli(['reconcile', '--dry-run', '--config', file], clients)).stdout;
  });

  it('says it is one and lists each action the pass would take, with its reason', () => {
    expect(planned.dryRun).toBe(true);
    expect(planned.completed).toHaveLength(2);
    expect(planned.copiesQueued).toHaveLength(1);
    expect(planned.pruned.length).toBeGreaterThan(0);
    expect(planned.held.map((h) => h.reason)).toContain('its copy to us-west-2 has not completed');
    expect(planned.orphans.deleted.map((o) => o.snapshotId)).toEqual([extra]);
    expect(planned.orphans.held.map((o) => o.snapshotId)).toEqual([forged]);
    const kinds = new Set(planned.actions.map((a) => a.action));
    for (const kind of [
      'complete',
      'queue copies',
      'set expiry',
      'prune',
      'hold',
      'delete orphan',
      'hold orphan',
    ])
      expect(kinds).toContain(kind);
    expect(planned.actions.every((a) => a.reason.length > 0)).toBe(true);
    expect(planned.actions.find((a) => a.action === 'prune')?.reason).toMatch(
      /^it expired at \d{4}-\d\d-\d\dT03:00/,
    );
    expect(planned.writes.filter((w) => w.call === 'DeleteSnapshot').map((w) => w.subject)).toContain(extra);
    expect(text).toMatch(/^Dry run: nothing was changed\./);
    expect(text).toContain(`delete orphan ${planned.orphans.deleted[0]?.generationId} ${extra}`);
  });

  it('makes no call that writes, to EC2, DynamoDB, SQS or S3, on the CLI or in the Lambda', async () => {
    const lambda = newFaults();
    const clients = new AwsClients({ middleware: [lambda.pluggable()] });
    const metrics = metricsRecorder();
    const handler = createReconcileHandler(() => pass('now', clients), { clients, sink: metrics.sink });
    const answered = (await handler({ dryRun: true }, lambdaContext())) as ReconcileDryRun;

    expect(asReport(answered)).toEqual(asReport(planned));
    // A question, not a pass: no figures for the alarms.
    expect(metrics.data).toEqual([]);
    for (const calls of [seen.calls, lambda.calls]) {
      expect(calls.length).toBeGreaterThan(0);
      const services = new Set(calls.map((c) => c.service));
      expect(services).toContain('EC2');
      expect(services).toContain('DynamoDB');
      expect([...services].filter((s) => !['EC2', 'DynamoDB', 'SQS', 'SSM', 'STS'].includes(s))).toEqual([]);
      expect(writesIn(calls)).toEqual([]);
    }
    expect(await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [extra] }))).toBeDefined();
  });

  it('refuses a Lambda event whose dryRun is not a boolean, naming the field', async () => {
    const clients = new AwsClients();
    const handler = createReconcileHandler(() => pass('now', clients), {
      clients,
      sink: metricsRecorder().sink,
    });
    await expect(handler({ dryRun: 'yes' } as never, lambdaContext())).rejects.toThrow(/dryRun/);
  });

  it('is what a real pass right after does: the same generations advanced, copied, pruned and held', async () => {
    const real = newFaults();
    const report = await reconcile(pass('now', new AwsClients({ middleware: [real.pluggable()] })));

    expect(asReport(report)).toEqual(asReport(planned));
    const deleted = real.calls.filter((c) => c.action === 'DeleteSnapshot').map((c) => c.input.SnapshotId);
    const wouldDelete = planned.writes.filter((w) => w.call === 'DeleteSnapshot').map((w) => w.subject);
    expect(deleted.sort()).toEqual(wouldDelete.sort());
    const sent = real.calls.filter((c) => c.action === 'SendMessageBatch' || c.action === 'SendMessage');
    expect(sent.length).toBeGreaterThan(0);
    expect(planned.writes.filter((w) => w.call === 'SendMessage')).toHaveLength(1);
    // And what the dry run held stays: the forged snapshot is still there.
    const left = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: [daily] }] }),
    );
    expect(left.Snapshots?.map((s) => s.SnapshotId)).toContain(forged);
    expect(left.Snapshots?.map((s) => s.SnapshotId)).not.toContain(extra);
  });
});
