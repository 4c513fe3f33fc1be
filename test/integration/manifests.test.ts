import { writeFileSync } from 'node:fs';
import { DeleteTableCommand, DynamoDBClient, waitUntilTableNotExists } from '@aws-sdk/client-dynamodb';
import { DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { S3ManifestStore } from '#adapters/manifests.ts';
import type { RunReport } from '#core/backup/run.ts';
import { parseConfig } from '#core/config/config.ts';
import { ManifestObjectError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { asListed, type ListedGeneration } from '#core/recovery/generation-list.ts';
import type { RebuildReport } from '#core/recovery/manifests.ts';
import type { RestoreVolumeResult } from '#core/recovery/restore.ts';
import { cli } from '../support/cli.ts';
import { anInstance, aVolume, type SeededInstance } from '../support/fleet.ts';

// The catalog survives the primary Region: runs and reconcile write manifests to the bucket in the manifest
// Region; with the catalog table deleted, generations are listed and a volume restored from the manifests,
// and `rebuild-catalog` puts the catalog back as it was. Real adapters and the real CLI on the emulator.

const config = parseConfig({
  region: 'us-east-1',
  catalog: { table: 'dr-catalog' },
  manifests: { bucket: 'dr-manifests', region: 'us-west-2' },
  policies: [
    {
      name: 'nightly',
      targets: 'volumes',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 1 } }],
    },
    {
      name: 'servers',
      targets: 'instances',
      schedules: [{ name: 'nightly', expression: 'cron(0 1 * * ? *)', keep: { count: 2 } }],
    },
  ],
});
const configFile = `${process.env.TMPDIR ?? '/tmp'}/snapkeeper-manifests-${process.pid}.json`;
const bare = `${configFile}.bare.json`;
const clients = new AwsClients({ maxAttempts: 2 });
const ec2 = new EC2Client({ region: 'us-east-1' });
const s3 = new S3Client({ region: 'us-west-2', forcePathStyle: true });
const day = (n: number, hour = 1) => `2026-10-0${n}T0${hour}:00:00.000Z`;

const snapkeeper = async (...argv: string[]) => {
  const result = await cli([...argv, '--config', configFile, '--quiet'], clients);
  return { ...result, json: () => JSON.parse(result.stdout) as unknown };
};

async function manifest(generationId: string): Promise<Generation> {
  const object = await s3.send(
    new GetObjectCommand({ Bucket: 'dr-manifests', Key: `generations/${generationId}.json` }),
  );
  return (JSON.parse((await object.Body?.transformToString()) ?? '') as { generation: Generation })
    .generation;
}

let volumeId: string;
let server: SeededInstance;
let nights: RunReport[];
let catalogBefore: ListedGeneration[];

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(config));
  const { manifests: _none, ...withoutManifests } = config;
  writeFileSync(bare, JSON.stringify(withoutManifests));
  expect((await snapkeeper('init')).status).toBe(0);
  volumeId = await aVolume(ec2, { tags: { 'snapkeeper:policy': 'nightly', App: 'ledger' } });
  server = await anInstance(ec2, { tags: { 'snapkeeper:policy': 'servers' }, dataVolumes: 1 });
  nights = [];
  for (const n of [1, 2, 3]) {
    for (const policy of ['nightly', 'servers']) {
      const run = await snapkeeper(
        'run',
        '--policy',
        policy,
        '--schedule',
        'nightly',
        '--at',
        day(n),
        '--json',
      );
      expect(run.status).toBe(0);
      nights.push(run.json() as RunReport);
    }
    expect((await snapkeeper('reconcile', '--at', day(n, 2))).status).toBe(0);
  }
  catalogBefore = (await snapkeeper('generations', '--json')).json() as ListedGeneration[];
});

const idsOf = (policy: string) =>
  nights.filter((r) => r.policy === policy).map((r) => r.results[0]?.generationId ?? '');

describe('manifests written by runs and reconcile', () => {
  it('holds one manifest per generation, equal to its catalog record, encrypted', async () => {
    expect(catalogBefore).toHaveLength(6);
    for (const generation of catalogBefore) {
      // The manifest is the record; the listing says `deleted` for a pruned one where the record has deletedAt.
      expect(asListed(await manifest(generation.id))).toEqual(generation);
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: 'dr-manifests', Key: `generations/${generation.id}.json` }),
      );
      expect(head.ServerSideEncryption).toBe('AES256');
    }
  });

  it('says which generations pruning deleted, with the snapshot ids they had', async () => {
    const [first, second, third] = idsOf('nightly');
    for (const id of [first, second]) {
      const pruned = await manifest(id ?? '');
      expect(pruned.deletedAt).toBeDefined();
      expect(pruned.snapshots[0]?.snapshotId).toMatch(/^snap-/);
    }
    expect((await manifest(third ?? '')).deletedAt).toBeUndefined();
    // Instance sets are pending after the run and complete in reconcile: only final outcomes are written.
    expect(await manifest(idsOf('servers')[0] ?? '')).toMatchObject({
      state: 'completed',
      deletedAt: expect.any(String),
    });
  });

  it('reads a manifest that is not there as absent, and a missing bucket as an error', async () => {
    expect(
      await new S3ManifestStore(clients.s3('us-west-2'), 'dr-manifests').get('gen-none'),
    ).toBeUndefined();
    const elsewhere = new S3ManifestStore(clients.s3('us-west-2'), 'no-such-bucket').get('gen-none');
    await expect(elsewhere).rejects.toThrow(/read manifest/);
  });

  it('refuses a malformed manifest with an error naming its key, the field and the fix', async () => {
    const store = new S3ManifestStore(clients.s3('us-west-2'), 'dr-manifests');
    const good = await manifest(catalogBefore.find((g) => g.state === 'completed')?.id ?? '');
    const bodies = {
      'gen-bad-state': JSON.stringify({
        version: 1,
        generation: { ...good, id: 'gen-bad-state', state: 'done' },
      }),
      'gen-bad-version': JSON.stringify({ version: 2, generation: good }),
      'gen-not-json': '<html>oops</html>',
    };
    try {
      for (const [id, body] of Object.entries(bodies)) {
        await s3.send(
          new PutObjectCommand({ Bucket: 'dr-manifests', Key: `generations/${id}.json`, Body: body }),
        );
      }
      const refusal = (id: string) =>
        store.get(id).then(
          () => undefined,
          (error: unknown) => error,
        );
      const badState = await refusal('gen-bad-state');
      expect(badState).toBeInstanceOf(ManifestObjectError);
      expect(String(badState)).toMatch(
        /object generations\/gen-bad-state\.json is not a valid generation manifest \(generation\.state: .*\); restore its previous version/,
      );
      expect(String(await refusal('gen-bad-version'))).toMatch(
        /generations\/gen-bad-version\.json .*\(version: /,
      );
      expect(String(await refusal('gen-not-json'))).toMatch(/generations\/gen-not-json\.json .*\(not JSON: /);
    } finally {
      for (const id of Object.keys(bodies)) {
        await s3.send(new DeleteObjectCommand({ Bucket: 'dr-manifests', Key: `generations/${id}.json` }));
      }
    }
  });

  it('lists a volume newest first from pointers, not from a scan of every manifest', async () => {
    const pointers = await s3.send(
      new ListObjectsV2Command({ Bucket: 'dr-manifests', Prefix: `by-volume/${volumeId}/` }),
    );
    expect(pointers.Contents?.map((o) => o.Key?.split('_')[1])).toEqual(idsOf('nightly').reverse());
  });
});

describe('with the catalog table gone', () => {
  beforeAll(async () => {
    const db = new DynamoDBClient({ region: 'us-east-1' });
    await db.send(new DeleteTableCommand({ TableName: 'dr-catalog' }));
    await waitUntilTableNotExists({ client: db, maxWaitTime: 60 }, { TableName: 'dr-catalog' });
  });

  it('cannot list from the catalog, naming the table, its Region and what to do', async () => {
    const result = await snapkeeper('generations', '--json');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'snapkeeper: the catalog table "dr-catalog" does not exist in us-east-1 (AWS_ENDPOINT_URL is',
    );
    expect(result.stderr).toMatch(
      /read the manifests with --from-manifests .*for a sandbox: snapkeeper init/,
    );
    expect(result.json()).toMatchObject({ error: { kind: 'AwsSetupError' } });
  });

  it('lists the same generations from the manifests, in the same JSON shape', async () => {
    const listed = await snapkeeper('generations', '--from-manifests', '--json');
    expect(listed.status).toBe(0);
    expect(listed.json()).toEqual(catalogBefore);
    const byRegion = await snapkeeper(
      'generations',
      '--manifests-region',
      'us-west-2',
      '--volume',
      volumeId,
      '--json',
    );
    expect(byRegion.json()).toEqual(catalogBefore.filter((g) => g.target.id === volumeId));
    const byInstance = await snapkeeper(
      'generations',
      '--manifests-region',
      'us-west-2',
      '--instance',
      server.instanceId,
      '--json',
    );
    expect((byInstance.json() as Generation[]).map((g) => g.id)).toEqual(idsOf('servers').reverse());
  });

  it('restores a volume from the manifests, its audit entry going to the log', async () => {
    const restored = await cli(
      [
        'restore',
        '--volume',
        volumeId,
        '--az',
        'us-east-1b',
        '--from-manifests',
        '--json',
        '--config',
        configFile,
      ],
      clients,
    );
    expect(restored.status).toBe(0);
    const result = JSON.parse(restored.stdout) as RestoreVolumeResult;
    expect(result.generationId).toBe(idsOf('nightly')[2]);
    const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [result.volumeId ?? ''] })))
      .Volumes?.[0];
    expect(volume).toMatchObject({ State: 'available', SnapshotId: result.sourceSnapshotId });
    expect(restored.stderr).toContain('audit entry (catalog unreachable; not recorded there)');
  });

  it('recreates the catalog from the manifests once init has made the table, and only once', async () => {
    expect((await snapkeeper('init')).status).toBe(0);
    const dry = (await snapkeeper('rebuild-catalog', '--dry-run', '--json')).json() as RebuildReport;
    expect(dry).toMatchObject({ manifests: 6, present: 0, dryRun: true });
    expect((await snapkeeper('generations', '--json')).json()).toEqual([]);

    const rebuilt = await snapkeeper('rebuild-catalog', '--json');
    expect(rebuilt.status).toBe(0);
    expect((rebuilt.json() as RebuildReport).imported.sort()).toEqual(catalogBefore.map((g) => g.id).sort());
    expect((await snapkeeper('generations', '--json')).json()).toEqual(catalogBefore);
    expect((await snapkeeper('generations', '--volume', volumeId, '--json')).json()).toEqual(
      catalogBefore.filter((g) => g.target.id === volumeId),
    );

    const again = (await snapkeeper('rebuild-catalog', '--json')).json() as RebuildReport;
    expect(again).toMatchObject({ manifests: 6, present: 6, imported: [] });
  });

  it('exits 2 naming the key when the config has no manifests', async () => {
    const result = await cli(['rebuild-catalog', '--json', '--config', bare], clients);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no "manifests" key/);
    const listed = await cli(['generations', '--manifests-region', 'us-west-2', '--config', bare], clients);
    expect(listed.status).toBe(2);
    expect(listed.stderr).toMatch(/--manifests-region us-west-2: .*the config has no "manifests" key/);
    const renamed = await snapkeeper('generations', '--region', 'us-west-2');
    expect(renamed.status).toBe(2);
    expect(renamed.stderr).toMatch(
      /--region was renamed to --manifests-region; .*write --manifests-region us-west-2/,
    );
  });
});
