import { GetCommand, PutCommand, paginateQuery, paginateScan } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoCatalog } from '#adapters/catalog/catalog.ts';
import { AwsClients } from '#adapters/clients.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import type { AuditEntry } from '#core/model/catalog.ts';
import { CatalogItemError } from '#core/model/errors.ts';
import { type Generation, hasOpenWork, nextExpiry } from '#core/model/generation.ts';
import { faults } from '../harness/faults.ts';
import { oneRequestAtATime } from '../harness/one-at-a-time.ts';
import { catalogContract } from '../support/catalog-contract.ts';
import { aConfig, aGeneration } from '../support/fakes.ts';

// DynamoCatalog on the emulator keeps the contract the in-memory fake keeps in the unit tier
// (test/unit/support/catalog-contract.test.ts): the same test bodies, run against each.

const serial = oneRequestAtATime();
const clients = new AwsClients({ maxAttempts: 1, middleware: [serial] });
// Writes held back 100 ms, so writers started together have all read the record before any of them writes;
// a write that lost shows up as a conditional-check failure.
const slow = faults().latency(['UpdateItem', 'TransactWriteItems'], 100);
const slowClients = new AwsClients({ maxAttempts: 1, middleware: [slow.pluggable(), serial] });
let tables = 0;

catalogContract('DynamoCatalog', async () => {
  // A table of its own for every test, so the shared partitions (policies, the indexes) hold only its items.
  tables += 1;
  const config = aConfig({ catalog: { table: `contract-${tables}` } });
  await ensureSandbox(config, clients);
  const db = clients.dynamo(config.region);
  const TableName = config.catalog.table;
  const catalog = new DynamoCatalog(db, TableName);
  return {
    catalog,
    racing: new DynamoCatalog(slowClients.dynamo(config.region), TableName),
    load: (generations) => catalog.importGenerations(generations),
    auditsOn: async (day) => {
      const entries: AuditEntry[] = [];
      const query = {
        TableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `AUDIT#${day}` },
      };
      for await (const page of paginateQuery({ client: db }, query)) {
        for (const { pk: _pk, sk: _sk, ...entry } of page.Items ?? []) entries.push(entry as AuditEntry);
      }
      return entries;
    },
    lostWrites: () => slow.calls.filter((call) => call.outcome === 'error').length,
    // The sparse index keys of every record are those its whole record calls for, whichever write left it.
    checkStored: async () => {
      for await (const page of paginateScan({ client: db }, { TableName })) {
        for (const item of page.Items ?? []) {
          if (!String(item.pk).startsWith('GEN#')) continue;
          const { pk: _pk, sk: _sk, openPk, openSk, expiryPk, expirySk, ...record } = item;
          const generation = record as Generation;
          const open = hasOpenWork(generation);
          const expiry = nextExpiry(generation);
          expect([openPk, openSk, expiryPk, expirySk], generation.id).toEqual([
            open ? 'OPEN' : undefined,
            open ? `${generation.scheduledAt}#${generation.id}` : undefined,
            expiry ? 'EXPIRY' : undefined,
            expiry ? `${expiry}#${generation.id}` : undefined,
          ]);
        }
      }
    },
  };
});

describe("DynamoCatalog's boundary", () => {
  it('refuses a malformed generation item with a CatalogItemError naming its key and the fix', async () => {
    const config = aConfig({ catalog: { table: 'contract-malformed' } });
    await ensureSandbox(config, clients);
    const db = clients.dynamo(config.region);
    const catalog = new DynamoCatalog(db, config.catalog.table);
    const generation = aGeneration();
    await catalog.claim(generation);
    // Someone edited the item by hand: the state is not one a generation can have, and the snapshots are gone.
    const { Item } = await db.send(
      new GetCommand({ TableName: config.catalog.table, Key: { pk: `GEN#${generation.id}`, sk: 'GEN' } }),
    );
    const { snapshots: _dropped, ...edited }: Record<string, unknown> = { ...Item, state: 'done' };
    await db.send(new PutCommand({ TableName: config.catalog.table, Item: edited }));

    // Every path that reads the record, a write's read included.
    const reads = [
      () => catalog.get(generation.id),
      () => catalog.byTarget(generation.target.id),
      () => catalog.byPolicy(generation.policy),
      () => catalog.updateCopy(generation.id, 'eu-west-1', () => undefined),
    ];
    for (const read of reads) {
      const error = await read().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CatalogItemError);
      expect(error).toMatchObject({ key: `GEN#${generation.id}` });
      expect((error as Error).message).toMatch(/state: .*snapshots: .*rebuild-catalog/);
    }
  });
});
