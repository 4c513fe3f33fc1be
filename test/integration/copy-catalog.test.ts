import { GetQueueAttributesCommand, PurgeQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoCatalog } from '#adapters/catalog/catalog.ts';
import { DynamoCopySlots } from '#adapters/catalog/copy-slots.ts';
import { AwsClients } from '#adapters/clients.ts';
import { parseCopyMessage, SqsCopyQueue } from '#adapters/copy-queue.ts';
import { S3ManifestStore } from '#adapters/manifests.ts';
import { copyQueueUrl, ensureSandbox, type SetupStep } from '#cli/sandbox-setup.ts';
import { InputError, NotFoundError } from '#core/model/errors.ts';
import { type Generation, hasOpenWork, nextExpiry } from '#core/model/generation.ts';
import { ManifestingCatalog } from '#core/recovery/manifests.ts';
import { faults } from '../harness/faults.ts';
import { oneRequestAtATime } from '../harness/one-at-a-time.ts';
import { aCopy } from '../support/catalog-contract-kit.ts';
import { aConfig, aGeneration, CollectingLog } from '../support/fakes.ts';

// The catalog's optimistic writes, the copy slots and the copy queue on the emulator: writers racing on one
// generation record all land, the sparse index keys follow the record as written, the slot limit holds
// under concurrent workers, and `init` creates the copy queue with its dead-letter queue. The catalog's whole
// contract, run against the fake too, is in test/integration/catalog-contract.test.ts.

const serial = oneRequestAtATime();

const config = aConfig({
  catalog: { table: 'copy-catalog' },
  copyQueue: { name: 'copy-test' },
  manifests: { bucket: 'copy-manifests', region: 'us-west-2' },
});
const clients = new AwsClients({ maxAttempts: 1, middleware: [serial] });
const db = clients.dynamo(config.region);
const sqs = clients.sqs(config.region);
const catalog = new DynamoCatalog(db, config.catalog.table);
// Writes held back 100 ms, so writers started together have all read the record before any of them writes:
// every race below is a real one, and the lost writes show up as conditional-check failures.
const slow = faults().latency(['UpdateItem', 'TransactWriteItems'], 100);
const racing = new DynamoCatalog(
  new AwsClients({ maxAttempts: 1, middleware: [slow.pluggable(), serial] }).dynamo(config.region),
  config.catalog.table,
);
const slots = new DynamoCopySlots(db, config.catalog.table);
let setup: SetupStep[];

beforeAll(async () => {
  setup = await ensureSandbox(config, clients);
});

let hour = 0;
/** A completed generation with retention applied and no expiry, claimed in the catalog: no work left. */
async function aClaimed(fields: Partial<Generation> = {}): Promise<Generation> {
  hour += 1;
  const generation = aGeneration({
    scheduledAt: new Date(Date.UTC(2026, 10, 1, hour)).toISOString(),
    retentionAppliedAt: '2026-11-21T04:00:00.000Z',
    ...fields,
  });
  expect(await catalog.claim(generation)).toEqual({ claimed: true });
  return generation;
}

/** The generation item as stored, index keys included. */
async function rawItem(id: string): Promise<Record<string, unknown>> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: config.catalog.table,
      Key: { pk: `GEN#${id}`, sk: 'GEN' },
      ConsistentRead: true,
    }),
  );
  if (!Item) throw new Error(`no item for ${id}`);
  return Item;
}

/** The index keys the stored record must carry, derived from the record as read back. */
async function expectIndexKeysOfRecord(id: string): Promise<void> {
  const generation = (await catalog.get(id)) as Generation;
  const item = await rawItem(id);
  const expiry = nextExpiry(generation);
  expect({
    openPk: item.openPk,
    openSk: item.openSk,
    expiryPk: item.expiryPk,
    expirySk: item.expirySk,
  }).toEqual({
    openPk: hasOpenWork(generation) ? 'OPEN' : undefined,
    openSk: hasOpenWork(generation) ? `${generation.scheduledAt}#${id}` : undefined,
    expiryPk: expiry ? 'EXPIRY' : undefined,
    expirySk: expiry ? `${expiry}#${id}` : undefined,
  });
}

describe('optimistic writes of a generation record', () => {
  it('claims at revision 0 and counts every write after it', async () => {
    const claimed = await aClaimed();
    expect((await catalog.get(claimed.id))?.revision).toBeUndefined();
    await catalog.update({ ...claimed, notes: ['first'] }, ['notes']);
    await catalog.recordOutcome({ ...claimed, notes: ['second'] });
    expect(await catalog.get(claimed.id)).toMatchObject({ notes: ['second'], revision: 2 });
  });

  it('writes the outcome onto the record as it is now, keeping copies and retention others wrote', async () => {
    const claimed = await aClaimed({ state: 'pending', retentionAppliedAt: undefined });
    await catalog.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
    await catalog.update({ ...claimed, expiresAt: '2026-12-24T00:00:00.000Z' }, ['expiresAt']);
    await catalog.recordOutcome({ ...claimed, state: 'completed', notes: ['adopted'] });
    const after = (await catalog.get(claimed.id)) as Generation;
    expect(after).toMatchObject({
      state: 'completed',
      notes: ['adopted'],
      expiresAt: '2026-12-24T00:00:00.000Z',
    });
    expect(after.copies.map((c) => c.region)).toEqual(['eu-west-1']);
    expect(after.revision).toBe(3);
    await expectIndexKeysOfRecord(claimed.id);
  });

  it('bumps the revision on recordFailure and takeOver, and takeOver still only takes over an unchanged claim', async () => {
    const claimed = await aClaimed({ state: 'pending', snapshots: [], retentionAppliedAt: undefined });
    await catalog.recordFailure(claimed.id, 'CreateSnapshots refused');
    expect(await catalog.get(claimed.id)).toMatchObject({ state: 'failed', revision: 1 });
    const retry = { ...claimed, claimedAt: '2026-11-21T05:00:00.000Z' };
    const [first, second] = await Promise.all([
      racing.takeOver(retry, claimed.claimedAt),
      racing.takeOver({ ...retry, claimedAt: '2026-11-21T05:00:01.000Z' }, claimed.claimedAt),
    ]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    const after = (await catalog.get(claimed.id)) as Generation;
    expect(after).toMatchObject({ state: 'pending', revision: 2 });
    expect(after.failure).toBeUndefined();
    expect(await catalog.takeOver(retry, claimed.claimedAt)).toBe(false);
    await expectIndexKeysOfRecord(claimed.id);
  });
});

describe('updateCopy', () => {
  it('keeps a generation in open work until its final copies have their retention applied', async () => {
    const claimed = await aClaimed();
    const open = async () => (await catalog.openGenerations()).some((g) => g.id === claimed.id);
    expect(await open()).toBe(false);
    await Promise.all(
      ['eu-west-1', 'ap-southeast-2'].map((region) =>
        racing.updateCopy(claimed.id, region, () => aCopy(region, { state: 'pending' })),
      ),
    );
    expect(await open()).toBe(false); // copying is the copy queue's work, not reconcile's
    await Promise.all(
      ['eu-west-1', 'ap-southeast-2'].map((region) =>
        racing.updateCopy(claimed.id, region, (c) => c && { ...c, state: 'completed' }),
      ),
    );
    expect(await open()).toBe(true);
    await expectIndexKeysOfRecord(claimed.id);
    await Promise.all(
      ['eu-west-1', 'ap-southeast-2'].map((region) =>
        racing.updateCopy(
          claimed.id,
          region,
          (c) => c && { ...c, retentionAppliedAt: '2026-11-22T00:00:00.000Z' },
        ),
      ),
    );
    expect(await open()).toBe(false);
    await expectIndexKeysOfRecord(claimed.id);
  });

  it('puts a generation in expiring() when only a copy is due, by the soonest undeleted expiry', async () => {
    const claimed = await aClaimed({ expiresAt: '2027-06-01T00:00:00.000Z' });
    const stale = (await catalog.get(claimed.id)) as Generation;
    const due = '2027-01-10T00:00:00.000Z';
    await Promise.all([
      racing.updateCopy(claimed.id, 'eu-west-1', () =>
        aCopy('eu-west-1', { state: 'completed', expiresAt: due, retentionAppliedAt: due }),
      ),
      racing.update({ ...stale, heldBecause: 'audit' }, ['heldBecause']),
    ]);
    await expectIndexKeysOfRecord(claimed.id);
    const ids = async (at: string) => (await catalog.expiring(at)).map((g) => g.id);
    expect(await ids('2027-01-09T23:59:59.000Z')).not.toContain(claimed.id);
    expect(await ids(due)).toContain(claimed.id);

    // The copy is deleted: the primary's own expiry orders it again.
    await catalog.updateCopy(claimed.id, 'eu-west-1', (c) => c && { ...c, deletedAt: due });
    expect(await ids('2027-05-31T00:00:00.000Z')).not.toContain(claimed.id);
    expect(await ids('2027-06-01T00:00:00.000Z')).toContain(claimed.id);
    await expectIndexKeysOfRecord(claimed.id);
  });

  it('still writes a copy after the primary snapshots were deleted, and indexes it by the copy alone', async () => {
    const copyExpiry = '2027-03-01T00:00:00.000Z';
    const claimed = await aClaimed({ expiresAt: '2026-12-01T00:00:00.000Z' });
    await catalog.updateCopy(claimed.id, 'eu-west-1', () =>
      aCopy('eu-west-1', { state: 'completed', expiresAt: copyExpiry, retentionAppliedAt: copyExpiry }),
    );
    const read = (await catalog.get(claimed.id)) as Generation;
    await catalog.update({ ...read, deletedAt: '2026-12-01T01:00:00.000Z' }, ['deletedAt']);
    expect((await rawItem(claimed.id)).expirySk).toBe(`${copyExpiry}#${claimed.id}`);

    const written = await catalog.updateCopy(
      claimed.id,
      'eu-west-1',
      (c) => c && { ...c, pruneStartedAt: '2027-03-01T01:00:00.000Z' },
    );
    expect(written?.copies[0]?.pruneStartedAt).toBe('2027-03-01T01:00:00.000Z');
    expect((await catalog.openGenerations()).map((g) => g.id)).toContain(claimed.id);
    await catalog.updateCopy(
      claimed.id,
      'eu-west-1',
      (c) => c && { ...c, deletedAt: '2027-03-01T02:00:00.000Z' },
    );
    await expectIndexKeysOfRecord(claimed.id);
    const item = await rawItem(claimed.id);
    expect([item.openPk, item.expiryPk]).toEqual([undefined, undefined]);
  });
});

describe('manifests of copies', () => {
  it('writes the manifest as the catalog wrote it when a copy becomes final, not at every step', async () => {
    const manifests = new S3ManifestStore(clients.s3('us-west-2'), 'copy-manifests');
    const manifesting = new ManifestingCatalog(catalog, manifests, new CollectingLog(), {
      now: () => new Date(),
    });
    const claimed = await aClaimed();
    await manifesting.updateCopy(claimed.id, 'eu-west-1', () => aCopy('eu-west-1'));
    await manifesting.updateCopy(claimed.id, 'eu-west-1', (c) => c && { ...c, state: 'pending' });
    expect(await manifests.get(claimed.id)).toBeUndefined();
    const written = await manifesting.updateCopy(
      claimed.id,
      'eu-west-1',
      (c) => c && { ...c, state: 'completed', snapshotIds: ['snap-0copy'] },
    );
    expect(await manifests.get(claimed.id)).toEqual(written);
    expect((await manifests.get(claimed.id))?.copies[0]?.snapshotIds).toEqual(['snap-0copy']);
  });
});

describe('DynamoCopySlots', () => {
  const now = '2026-11-21T04:00:00.000Z';
  const request = { region: 'eu-west-1', limit: 20, now, staleAfterMs: 15 * 60_000 };

  it('gives exactly the limit of slots to 30 workers asking at once, in a Region never used before', async () => {
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        slots.acquire({ ...request, key: `copy-${i}`, holder: `worker-${i}` }),
      ),
    );
    expect(results.filter((r) => r === 'acquired')).toHaveLength(20);
    expect(results.filter((r) => r === 'full')).toHaveLength(10);
    expect((await slots.held('eu-west-1')).size).toBe(20);
  });

  it('gives a holder its own slot again, tells another holder it is busy, and takes over a stale one', async () => {
    const held = await slots.held('eu-west-1');
    const [key, slot] = [...held][0] as [string, { holder: string; acquiredAt: string }];
    expect(await slots.acquire({ ...request, key, holder: slot.holder })).toBe('acquired');
    expect(await slots.acquire({ ...request, key, holder: 'duplicate' })).toBe('busy');
    const later = '2026-11-21T04:20:00.000Z';
    expect(await slots.acquire({ ...request, now: later, key, holder: 'rescuer' })).toBe('acquired');
    expect((await slots.held('eu-west-1')).get(key)).toEqual({ holder: 'rescuer', acquiredAt: later });
    expect((await slots.held('eu-west-1')).size).toBe(20);
  });

  it('frees released slots for others, ignoring keys nobody holds', async () => {
    const keys = [...(await slots.held('eu-west-1')).keys()].slice(0, 3);
    expect(await slots.acquire({ ...request, key: 'copy-new', holder: 'late' })).toBe('full');
    await slots.release('eu-west-1', [...keys, 'never-held']);
    expect((await slots.held('eu-west-1')).size).toBe(17);
    expect(await slots.acquire({ ...request, key: 'copy-new', holder: 'late' })).toBe('acquired');
    await slots.release('ap-south-1', ['nothing-here']);
    expect((await slots.held('ap-south-1')).size).toBe(0);
  });

  it('counts each Region on its own', async () => {
    expect(await slots.acquire({ ...request, region: 'us-west-2', key: 'copy-0', holder: 'w' })).toBe(
      'acquired',
    );
    expect((await slots.held('us-west-2')).size).toBe(1);
  });
});

describe('the copy queue', () => {
  let queueUrl: string;
  let queue: SqsCopyQueue;

  beforeAll(async () => {
    queueUrl = await copyQueueUrl(sqs, 'copy-test');
    queue = new SqsCopyQueue(sqs, queueUrl);
  });

  /** Receives until a receive comes back empty; `waitSeconds` long-polls, which SQS needs to answer every message
   * (a short poll samples only some of its servers, and LocalStack's may miss messages just out of their delay). */
  async function receiveAll(waitSeconds = 0): Promise<string[]> {
    const bodies: string[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          WaitTimeSeconds: waitSeconds,
        }),
      );
      if (Messages.length === 0) return bodies;
      bodies.push(...Messages.map((m) => m.Body ?? ''));
    }
  }

  it('was created by init with a dead-letter queue after five receives, and init is idempotent', async () => {
    expect(setup.filter((s) => s.resource.startsWith('copy'))).toEqual([
      { resource: 'copy dead-letter queue', name: 'copy-test-dlq', region: 'us-east-1', action: 'created' },
      { resource: 'copy queue', name: 'copy-test', region: 'us-east-1', action: 'created' },
    ]);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({
      deadLetterTargetArn: expect.stringMatching(/:copy-test-dlq$/),
      maxReceiveCount: 5,
    });
    expect(setup.map((s) => s.action)).toEqual(setup.map(() => 'created'));
    const again = await ensureSandbox(config, clients);
    expect(again.map((s) => s.action)).toEqual(again.map(() => 'exists'));
    await expect(copyQueueUrl(sqs, 'no-such-queue')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('sends more than a batch of messages, visible only after their delay', async () => {
    const messages = Array.from({ length: 12 }, (_, i) => ({
      generationId: `gen-${i}`,
      region: 'eu-west-1',
    }));
    await queue.send(messages, 2);
    expect(await receiveAll()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const received = (await receiveAll(1)).map(parseCopyMessage);
    expect(
      received.sort((a, b) => a.generationId.localeCompare(b.generationId, 'en', { numeric: true })),
    ).toEqual(messages);
  });

  it("caps a delay at SQS's 15 minutes instead of failing the send", async () => {
    await queue.send([{ generationId: 'gen-later', region: 'eu-west-1' }], 3_600);
    await queue.send([{ generationId: 'gen-now', region: 'eu-west-1' }]);
    expect((await receiveAll()).map(parseCopyMessage)).toEqual([
      { generationId: 'gen-now', region: 'eu-west-1' },
    ]);
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
  });

  it('parses only well-formed copy messages, naming what is wrong', () => {
    expect(() => parseCopyMessage('not json')).toThrow(InputError);
    expect(() => parseCopyMessage('not json')).toThrow(/not JSON/);
    expect(() => parseCopyMessage('{"generationId":"gen-1"}')).toThrow(/region/);
    expect(() => parseCopyMessage('{"generationId":"gen-1","region":"Europe"}')).toThrow(/region/);
    expect(() => parseCopyMessage('{"generationId":"gen-1","region":"eu-west-9"}')).toThrow(
      'not an AWS Region id: "eu-west-9" (did you mean "eu-west-1"?)',
    );
    expect(() => parseCopyMessage('{"generationId":"","region":"eu-west-1"}')).toThrow(/generationId/);
    expect(parseCopyMessage('{"generationId":"gen-1","region":"eu-west-1","extra":1}')).toEqual({
      generationId: 'gen-1',
      region: 'eu-west-1',
    });
  });
});
