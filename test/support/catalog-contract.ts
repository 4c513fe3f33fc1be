import { afterEach, beforeEach, describe } from 'vitest';
import { catalogClaimContract } from './catalog-contract-claims.ts';
import type { CatalogUnderTest } from './catalog-contract-kit.ts';
import { catalogQueryContract } from './catalog-contract-queries.ts';
import { catalogUpdateContract } from './catalog-contract-updates.ts';

/**
 * The catalog's contract, one set of test bodies run against both `DynamoCatalog` on the emulator
 * (test/integration/catalog-contract.test.ts) and `FakeCatalog` (test/unit/support/catalog-contract.test.ts),
 * so the fake every unit test of the core relies on cannot drift from the adapter it stands for.
 */

/** Registers the whole contract for one implementation. */
export function catalogContract(name: string, fresh: () => Promise<CatalogUnderTest>): void {
  const context = {} as { subject: CatalogUnderTest };
  describe(`the catalog contract (${name})`, () => {
    beforeEach(async () => {
      context.subject = await fresh();
    });
    afterEach(async () => {
      await context.subject.checkStored?.();
    });
    catalogClaimContract(context);
    catalogUpdateContract(context);
    catalogQueryContract(context);
  });
}
