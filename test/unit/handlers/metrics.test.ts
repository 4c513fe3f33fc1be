import { afterEach, describe, expect, it, vi } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import type { RunReport } from '#core/backup/run.ts';
import { RunFailedError } from '#core/model/errors.ts';
import { failOnFailedTargets } from '#handlers/lambda.ts';
import {
  copyMetrics,
  emfSink,
  METRIC,
  METRICS_NAMESPACE,
  reconcileMetrics,
  runMetrics,
} from '#handlers/metrics.ts';
import { createScheduledRunHandler } from '#handlers/scheduled-run.ts';
import { anInstance, aWorld, policyTag, SCHEDULED_AT } from '../../support/fakes.ts';
import { lambdaContext } from '../../support/lambda-context.ts';
import { metricsRecorder } from '../../support/metrics.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

const run: RunReport = {
  policy: 'daily',
  schedule: 'daily',
  scheduledAt: SCHEDULED_AT,
  problems: [],
  results: [
    {
      generationId: 'g1',
      targetId: 'i-1',
      outcome: 'created',
      state: 'pending',
      snapshotIds: ['snap-1', 'snap-2'],
      freezeWindowMs: 850,
    },
    {
      generationId: 'g2',
      targetId: 'i-2',
      outcome: 'created',
      state: 'pending',
      snapshotIds: ['snap-3'],
      freezeFailure: 'agent offline',
    },
    { generationId: 'g3', targetId: 'i-3', outcome: 'existing', state: 'completed', snapshotIds: ['snap-0'] },
    {
      generationId: 'g4',
      targetId: 'i-4',
      outcome: 'failed',
      state: 'failed',
      snapshotIds: [],
      failure: 'x',
    },
    {
      generationId: 'g5',
      targetId: 'i-5',
      outcome: 'created',
      state: 'pending',
      snapshotIds: ['snap-5'],
      freezeWindowMs: 1200,
      thawProblems: ['thaw not confirmed'],
    },
  ],
};

const values = (data: ReturnType<typeof runMetrics>) =>
  Object.fromEntries(data.map((d) => [d.name, d.values]));

describe('the metrics of a run', () => {
  it('count targets, the snapshots this run made, failures (unconfirmed thaws too), freeze windows and throttles', () => {
    const data = runMetrics(run, 3, 'scheduled-run');
    expect(values(data)).toEqual({
      [METRIC.targets]: [5],
      // An existing generation's snapshots were made by an earlier delivery: not counted again.
      [METRIC.snapshots]: [4],
      [METRIC.targetsFailed]: [2],
      [METRIC.freezesFailed]: [1],
      [METRIC.freezeWindow]: [850, 1200],
      [METRIC.throttled]: [3],
    });
    expect(new Set(data.map((d) => JSON.stringify(d.dimensions)))).toEqual(
      new Set([JSON.stringify({ Job: 'scheduled-run', Policy: 'daily' })]),
    );
  });
});

describe('the metrics of a reconcile pass', () => {
  it("count what the pass did, and give each policy's recovery point when it has one", () => {
    const data = reconcileMetrics(
      {
        examined: 3,
        completed: ['a', 'b'],
        failed: [{ generationId: 'c', failure: 'x' }],
        stillPending: ['d'],
        stuck: [{ generationId: 'd', pendingMinutes: 400 }],
        expiries: [],
        copiesQueued: [],
        copyExpiries: [],
        slotsFreed: [],
        pruned: [{ generationId: 'e', snapshotIds: ['snap-e'] }],
        held: [
          { generationId: 'f', reason: 'r' },
          { generationId: 'g', reason: 'r' },
        ],
        notes: [],
        orphans: {
          recorded: [],
          deleted: [],
          held: [{ generationId: 'h', snapshotId: 'snap-h', volumeId: 'vol-h', reason: 'r' }],
        },
        rpo: [
          { policy: 'daily', targets: 2, rpoSeconds: 90_000, worstTargetId: 'i-1', withoutGeneration: 1 },
          { policy: 'new', targets: 1, withoutGeneration: 1 },
        ],
      },
      7,
    );
    const pass = data.filter((d) => d.dimensions.Policy === undefined);
    expect(values(pass)).toEqual({
      [METRIC.completed]: [2],
      [METRIC.failed]: [1],
      [METRIC.pending]: [1],
      [METRIC.stuck]: [1],
      [METRIC.pruned]: [1],
      [METRIC.held]: [2],
      [METRIC.orphansHeld]: [1],
      [METRIC.throttled]: [7],
    });
    expect(data.filter((d) => d.name === METRIC.rpo)).toEqual([
      {
        name: METRIC.rpo,
        unit: 'Seconds',
        values: [90_000],
        dimensions: { Job: 'reconcile', Policy: 'daily' },
      },
    ]);
    expect(data.filter((d) => d.name === METRIC.withoutGeneration).map((d) => d.values[0])).toEqual([1, 1]);
  });
});

describe('the metrics of a copy batch', () => {
  it('give per Region the copies this batch finished and their lag; a copy already final is not counted again', () => {
    const data = copyMetrics(
      {
        steps: [
          { outcome: 'done', generationId: 'a', region: 'us-west-2', state: 'completed', lagSeconds: 600 },
          { outcome: 'done', generationId: 'b', region: 'us-west-2', state: 'completed', lagSeconds: 900 },
          { outcome: 'done', generationId: 'c', region: 'us-west-2', state: 'completed' },
          { outcome: 'done', generationId: 'd', region: 'eu-west-1', state: 'failed' },
          {
            outcome: 'wait',
            generationId: 'e',
            region: 'eu-west-1',
            retryAfterSeconds: 60,
            reason: 'r',
            progressed: false,
          },
        ],
        failed: [{ id: 'm1', error: 'bad message' }],
      },
      0,
    );
    const of = (region: string) => values(data.filter((d) => d.dimensions.Region === region));
    expect(of('us-west-2')).toEqual({
      [METRIC.copiesCompleted]: [2],
      [METRIC.copiesFailed]: [0],
      [METRIC.copyLag]: [600, 900],
    });
    expect(of('eu-west-1')).toEqual({ [METRIC.copiesCompleted]: [0], [METRIC.copiesFailed]: [1] });
    expect(data.find((d) => d.name === METRIC.copyMessagesFailed)?.values).toEqual([1]);
  });
});

describe('the embedded metric format sink', () => {
  it('writes one CloudWatch EMF document per set of dimensions, with the service dimension', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    emfSink.publish(runMetrics(run, 3, 'scheduled-run'));
    const documents = written
      .join('')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(documents).toHaveLength(1);
    const [document] = documents;
    expect(document._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [['service', 'Job', 'Policy']],
    });
    expect(document).toMatchObject({
      service: 'snapkeeper',
      Job: 'scheduled-run',
      Policy: 'daily',
      [METRIC.targetsFailed]: 2,
      [METRIC.freezeWindow]: [850, 1200],
    });
  });
});

describe('a failed run', () => {
  it('is one with a failed target or a thaw that could not be confirmed, and fails the invocation', () => {
    const thawOnly: RunReport = { ...run, results: run.results.filter((r) => r.targetId === 'i-5') };
    expect(() => failOnFailedTargets(thawOnly)).toThrow(RunFailedError);
    expect(() => failOnFailedTargets(thawOnly)).toThrow(/thaw not confirmed/);
    const healthy: RunReport = { ...run, results: run.results.filter((r) => r.targetId === 'i-1') };
    expect(() => failOnFailedTargets(healthy)).not.toThrow();
  });
});

describe('the scheduled-run handler', () => {
  it("publishes the run's metrics before a failed target fails the invocation", async () => {
    const world = aWorld();
    world.ec2.add(anInstance({ tags: policyTag('daily') }), anInstance({ tags: policyTag('daily') }));
    world.ec2.faults.failNext('snapshotInstance');
    const recorded = metricsRecorder();
    const handler = createScheduledRunHandler(() => world.runDeps, {
      clients: new AwsClients(),
      sink: recorded.sink,
    });
    await expect(
      handler({ policy: 'daily', schedule: 'daily', scheduledAt: SCHEDULED_AT }, lambdaContext()),
    ).rejects.toBeInstanceOf(RunFailedError);
    expect(recorded.value(METRIC.targets)).toEqual([2]);
    expect(recorded.value(METRIC.targetsFailed)).toEqual([1]);
    expect(recorded.value(METRIC.throttled)).toEqual([0]);
  });
});
