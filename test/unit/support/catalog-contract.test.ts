import { catalogContract } from '../../support/catalog-contract.ts';
import { FakeCatalog } from '../../support/fake-catalog.ts';

// The in-memory catalog every unit test of the core runs on keeps the contract DynamoCatalog keeps on the
// emulator (test/integration/catalog-contract.test.ts): the same test bodies, run against each.
catalogContract('FakeCatalog', async () => {
  const catalog = new FakeCatalog();
  return {
    catalog,
    // The fake's writes yield between reading the record and writing it, as the adapter's do, so writers
    // started together race on it as they would on DynamoDB.
    racing: catalog,
    load: async (generations) => {
      catalog.seed(...generations);
    },
    auditsOn: async (day) => catalog.audits.filter((entry) => entry.at.startsWith(day)),
    lostWrites: () => catalog.lostWrites,
  };
});
