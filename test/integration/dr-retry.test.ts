import { writeFileSync } from 'node:fs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import type { PumpReport } from '#cli/copy-pump.ts';
import { parseConfig } from '#core/config/config.ts';
import type { Plan } from '#core/lifecycle/plan.ts';
import type { Generation } from '#core/model/generation.ts';
import { faults } from '../harness/faults.ts';
import { cli } from '../support/cli.ts';
import { aVolume } from '../support/fleet.ts';

// A copy EC2 refuses for good (here: the DR key cannot be used) fails with EC2's reason, holds the source in
// the primary Region, and is queued again with `copy --retry` once the cause is fixed. Real CLI on the emulator.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'dr-retry-catalog' },
  copyQueue: { name: 'dr-retry' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
      copies: [{ region: 'us-west-2', kmsKeyId: 'alias/dr' }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-dr-retry-${process.pid}.json`;
const seam = faults({ seed: 3 });
seam.fail('CopySnapshot', {
  name: 'InvalidParameterValue',
  message: 'The KMS key alias/dr is disabled',
  httpStatusCode: 400,
  times: 1,
});
const clients = new AwsClients({ maxAttempts: 2, middleware: [seam.pluggable()] });
const snapkeeper = async (...argv: string[]) => {
  const result = await cli([...argv, '--config', configFile, '--quiet'], clients);
  return { ...result, json: <T>() => JSON.parse(result.stdout) as T };
};
const copyTo = async (generationId: string) =>
  (await snapkeeper('generations', '--volume', volumeId, '--json'))
    .json<Generation[]>()
    .find((g) => g.id === generationId)
    ?.copies.find((c) => c.region === 'us-west-2');

let volumeId: string;
let first: string;

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  expect((await snapkeeper('init')).status).toBe(0);
  volumeId = await aVolume(new EC2Client({ region: 'us-east-1' }), {
    tags: { 'snapkeeper:policy': 'nightly' },
  });
  // Each run is followed by the reconcile pass that, in AWS (and LocalStack), finds its pending snapshots completed
  // and queues the copies; on moto they complete within the run.
  for (const day of ['01', '02']) {
    const at = `2026-10-${day}T01:00:00Z`;
    const run = await snapkeeper('run', '--policy', 'nightly', '--schedule', 'nightly', '--at', at);
    expect(run.status, run.stderr).toBe(0);
    const reconciled = await snapkeeper('reconcile', '--at', `2026-10-${day}T01:30:00Z`);
    expect(reconciled.status, reconciled.stderr).toBe(0);
  }
  const [, older] = (await snapkeeper('generations', '--volume', volumeId, '--json')).json<Generation[]>();
  first = older?.id ?? '';
  const pumped = await snapkeeper('copy', '--at', '2026-10-02T02:00:00Z', '--max-delay', '0', '--json');
  expect(pumped.status, pumped.stderr).toBe(0);
});

describe('a copy refused for good', () => {
  it('is recorded failed with the reason EC2 gave', async () => {
    expect(await copyTo(first)).toMatchObject({
      state: 'failed',
      failure: expect.stringMatching(
        /EC2 refused to copy snap-\w+ to us-west-2: .*KMS key alias\/dr is disabled/,
      ),
    });
  });

  it('holds the source in the primary Region, saying why, while the newer generation is copied', async () => {
    const plan = (await snapkeeper('plan', '--at', '2026-10-02T12:00:00Z', '--json')).json<Plan>();
    expect(plan.held).toContainEqual({
      generationId: first,
      reason: expect.stringMatching(/^its copy to us-west-2 failed \(EC2 refused .*\); the source is kept/),
    });
    expect(plan.prune.map((p) => p.generationId)).not.toContain(first);
  });

  it('is queued again with copy --retry and completes', async () => {
    const retried = await snapkeeper(
      'copy',
      '--retry',
      first,
      '--copy-region',
      'us-west-2',
      '--at',
      '2026-10-02T13:00:00Z',
      '--max-delay',
      '0',
      '--json',
    );
    expect(retried.status, retried.stderr).toBe(0);
    expect(retried.json<PumpReport>().steps).toContainEqual(
      expect.objectContaining({ generationId: first, outcome: 'done', state: 'completed' }),
    );
    const copy = await copyTo(first);
    expect(copy).toMatchObject({
      state: 'completed',
      notes: [expect.stringMatching(/^retried at .* after: EC2 refused/)],
    });
    expect(copy?.failure).toBeUndefined();
  });

  it.each([
    [['--copy-region', 'us-west-2'], /--copy-region goes with --retry/],
    [['--retry', 'gen-20261001T010000-0000000000'], /--retry needs --copy-region/],
    [
      ['--retry', 'gen-20261001T010000-0000000000', '--region', 'us-west-2'],
      /--region us-west-2: on this command --region was renamed to --copy-region/,
    ],
    [['--max-delay', '-1'], /must be a whole number, 0 or more/],
  ])('rejects bad flags %j with exit status 2', async (flags, message) => {
    const result = await snapkeeper('copy', ...flags);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('refuses to retry a copy that did not fail, with exit status 2', async () => {
    const result = await snapkeeper('copy', '--retry', first, '--copy-region', 'us-west-2');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/is completed; only a failed copy is retried/);
  });
});
