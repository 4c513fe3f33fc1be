import { paginateQuery, paginateScan } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { DynamoCatalog } from '#adapters/catalog/catalog.ts';
import { AwsClients } from '#adapters/clients.ts';
import { ensureSandbox } from '#cli/sandbox-setup.ts';
import type { AuditEntry } from '#core/model/catalog.ts';
import { type Generation, hasOpenWork, nextExpiry } from '#core/model/generation.ts';
import { faults } from '../harness/faults.ts';
import { oneRequestAtATime } from '../harness/one-at-a-time.ts';
import { catalogContract } from '../support/catalog-contract.ts';
import { aConfig } from '../support/fakes.ts';

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
