import { expect } from 'vitest';
import type { AuditEntry, Catalog } from '#core/model/catalog.ts';
import type { CopyRecord, Generation } from '#core/model/generation.ts';
import { aGeneration } from './fakes.ts';

/** What every part of the catalog contract (`catalog-contract.ts`) shares: the subject and its builders. */

/** One catalog to check, fresh for every test. */
export interface CatalogUnderTest {
  catalog: Catalog;
  /**
   * The same catalog, its writes held back so that writers started together have all read the record before
   * any of them writes: every race is a real one, and the losers must read again and re-apply.
   */
  racing: Catalog;
  /** Writes whole generations with every pointer, as a rebuild would (`importGenerations`, the fake's `seed`). */
  load(generations: readonly Generation[]): Promise<void>;
  /** The audit entries stored for one UTC day (`yyyy-mm-dd`), in any order. */
  auditsOn(day: string): Promise<AuditEntry[]>;
  /** Writes so far that lost to another writer and were built again: proof that a race really happened. */
  lostWrites(): number;
  /** Checks what only the implementation can see after each test (the DynamoDB index keys of every record). */
  checkStored?(): Promise<void>;
}

/** What each part of the contract gets: the catalog under test, set before each test. */
export interface ContractContext {
  readonly subject: CatalogUnderTest;
}

let hour = 0;
/** A generation of its own volume, scheduled an hour after the previous one made here (ids never collide). */
export function aDistinctGeneration(fields: Partial<Generation> & { volumeId?: string } = {}): Generation {
  hour += 1;
  const scheduledAt = new Date(Date.UTC(2026, 10, 1, hour)).toISOString();
  return aGeneration({ scheduledAt, takenAt: scheduledAt, ...fields });
}

/** Claims a distinct generation, by default completed with retention applied: no work left. */
export async function aClaimed(catalog: Catalog, fields: Partial<Generation> = {}): Promise<Generation> {
  const generation = aDistinctGeneration({ retentionAppliedAt: '2026-11-21T04:00:00.000Z', ...fields });
  expect(await catalog.claim(generation)).toEqual({ claimed: true });
  return generation;
}

export function aCopy(region: string, fields: Partial<CopyRecord> = {}): CopyRecord {
  return {
    region,
    state: 'queued',
    snapshotIds: [],
    snapshots: [],
    images: [],
    queuedAt: '2026-11-21T03:10:00.000Z',
    ...fields,
  };
}

/** The record as read back, which must exist. */
export async function stored(catalog: Catalog, id: string): Promise<Generation> {
  const generation = await catalog.get(id);
  if (!generation) throw new Error(`generation ${id} is not in the catalog`);
  return generation;
}
