import { CreateSnapshotCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { tagList } from '#adapters/ec2/snapshots.ts';
import { consoleLog } from '#cli/console-log.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import { runSchedule } from '#core/backup/run.ts';
import { UNMARKED } from '#core/lifecycle/orphans.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { TAG } from '#core/model/tags.ts';
import { catalogFor, reconcileDeps, runDeps } from '#wiring';
import { faults as newFaults } from '../harness/faults.ts';
import { aConfig, aPolicy } from '../support/fakes.ts';
import { aVolume } from '../support/fleet.ts';

// Reconcile's orphan sweep on the emulator: snapshots that carry a generation's tags but are missing from its
// record. A lost create answer that no look-up found makes snapkeeper's own second snapshot, which goes; a
// snapshot tagged to look like one of a generation's, without snapkeeper's mark, is never touched.

const config = aConfig({
  catalog: { table: 'orphan-sweep-catalog' },
  policies: [aPolicy({ targets: 'volumes' })],
});
const log = consoleLog(() => {});
const ec2 = new EC2Client({ region: 'us-east-1' });
const catalog = catalogFor(config, new AwsClients());

async function snapshotsOf(volumeId: string) {
  const found = await ec2.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }),
  );
  return found.Snapshots ?? [];
}

beforeAll(async () => {
  await ensureSandbox(config, new AwsClients());
});

describe('a create answer lost where the look-up does not see the snapshot yet', () => {
  it('leaves a second snapshot that reconcile finds by its generation tag and deletes, one per volume', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'daily' } });
    let creates = 0;
    let lookups = 0;
    const faults = newFaults()
      .use({
        actions: ['CreateSnapshot'],
        after: (output) => {
          creates += 1;
          if (creates === 1) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
          return output;
        },
      })
      // EC2's listings are eventually consistent: the look-up after the lost answer does not list it yet.
      .transform('DescribeSnapshots', (output, input) => {
        const byGeneration = JSON.stringify(input).includes(`tag:${TAG.generation}`);
        if (!byGeneration || creates !== 1) return output;
        lookups += 1;
        return lookups > 1 ? output : { ...output, Snapshots: [] };
      });
    const clients = new AwsClients({ middleware: [faults.pluggable()] });
    const request = { policy: 'daily', schedule: 'daily', scheduledAt: '2026-11-27T01:00:00.000Z' };
    const [result] = (await runSchedule(request, runDeps({ config, clients, log }))).results;
    expect(creates).toBe(2);
    const made = await snapshotsOf(volumeId);
    expect(made).toHaveLength(2);
    const recorded = result?.snapshotIds[0] ?? '';
    const extra = made.map((s) => s.SnapshotId).find((id) => id !== recorded) ?? '';

    const pass = await reconcile(reconcileDeps({ config, clients: new AwsClients(), log }));

    expect(pass.orphans.deleted).toEqual([
      expect.objectContaining({ generationId: result?.generationId, snapshotId: extra, volumeId }),
    ]);
    expect((await snapshotsOf(volumeId)).map((s) => s.SnapshotId)).toEqual([recorded]);
    expect((await catalog.get(result?.generationId ?? ''))?.snapshots.map((s) => s.snapshotId)).toEqual([
      recorded,
    ]);
  });
});

describe('a snapshot with forged generation tags', () => {
  it('is never deleted nor recorded, with or without a copied mark tag of the wrong facts, and is reported held', async () => {
    const volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'daily' } });
    const request = { policy: 'daily', schedule: 'daily', scheduledAt: '2026-11-28T01:00:00.000Z' };
    const { results } = await runSchedule(request, runDeps({ config, clients: new AwsClients(), log }));
    const result = results.find((r) => r.targetId === volumeId);
    const generationId = result?.generationId ?? '';
    const recorded = result?.snapshotIds[0] ?? '';
    const [real] = await snapshotsOf(volumeId);
    const realMark = real?.Tags?.find((t) => t.Key === TAG.mark)?.Value ?? '';
    expect(realMark).not.toBe('');
    // A principal allowed only to tag: the generation's id and the managed tag, no mark, or a made-up one.
    const forge = async (extra: Record<string, string>) => {
      const forged = await ec2.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          TagSpecifications: [
            {
              ResourceType: 'snapshot',
              Tags: tagList({ [TAG.managed]: 'true', [TAG.generation]: generationId, ...extra }),
            },
          ],
        }),
      );
      return forged.SnapshotId ?? '';
    };
    const unmarked = await forge({});
    const wrong = await forge({ [TAG.mark]: `v1:${'A'.repeat(43)}` });

    const first = await reconcile(reconcileDeps({ config, clients: new AwsClients(), log }));
    const second = await reconcile(reconcileDeps({ config, clients: new AwsClients(), log }));

    expect(first.orphans.held.map((o) => [o.snapshotId, o.reason.startsWith(UNMARKED)])).toEqual([
      [unmarked, true],
      [wrong, true],
    ]);
    expect(first.orphans.deleted).toEqual([]);
    expect(first.orphans.recorded).toEqual([]);
    // Placed by the first pass, the generation left the open-work index: the second sweeps nothing of it.
    expect(second.orphans).toEqual({ recorded: [], deleted: [], held: [] });
    expect((await snapshotsOf(volumeId)).map((s) => s.SnapshotId).sort()).toEqual(
      [recorded, unmarked, wrong].sort(),
    );
    expect((await catalog.get(generationId))?.snapshots.map((s) => s.snapshotId)).toEqual([recorded]);
  });
});
