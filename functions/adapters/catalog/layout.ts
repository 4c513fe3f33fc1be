import { type Generation, hasOpenWork, nextExpiry } from '#core/model/generation.ts';

/**
 * The catalog table's layout: its physical shape, shared by the CDK construct (which creates it in AWS), the
 * `init` command (which creates it in a local sandbox) and `DynamoCatalog` (which reads and writes it), so the
 * three can never disagree; and every key of every item, built here and nowhere else.
 *
 * | item | pk | sk | written |
 * |---|---|---|---|
 * | generation (the one record of truth) | `GEN#<id>` | `GEN` | claim, then updated in place, each write conditioned on `revision` |
 * | pointer by target | `TARGET#<instance or volume id>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by policy | `POLICY#<policy>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by lineage | `LINEAGE#<target id>#<policy>#<schedule>` | `<scheduledAt>#<id>` | with the claim |
 * | pointer by source volume | `VOLUME#<volume id>` | `<scheduledAt>#<id>` | with the snapshots |
 * | audit entry | `AUDIT#<yyyy-mm-dd>` | `<at>#<uuid>` | by runbooks |
 * | runbook request (its journal) | `AUDIT#REQUEST#<runbook>#<request id>` | `REQUEST` | by step runbooks (replace-volume), each write conditioned on its owner |
 * | copy slots of a destination Region | `SLOTS#<region>` | `SLOTS` | by copy workers (`copy-slots.ts`) |
 * | drill outcome (`DrillRecord`, `core/report/ports.ts`) | `DRILL#<target id>` | `<finishedAt>#<drill id>` | by drills; read by `report` (`drills.ts`) |
 *
 * Pointers never change after they are written, so a listing is one Query over a pointer partition, newest
 * first, then one BatchGet of the generation records: no scans, and the items read per query depend on the
 * page asked for, not on the length of the history. Every pointer sorts by `scheduledAt`, which is part of the
 * run's identity, so two deliveries of one run that both record it write the same pointer, never two.
 * ISO-8601 times from `toISOString()` have a fixed width, so they sort as strings.
 *
 * While a generation still has work to do (`hasOpenWork`, its copies included) it carries `openPk`/`openSk`,
 * which puts it in the sparse `open-work` index that reconcile reads; while it or a copy of it has an expiry and
 * is not deleted (`nextExpiry`) it carries `expiryPk`/`expirySk` (`<soonest expiry>#<id>`), which puts it in the
 * sparse `expiry` index that pruning reads. Both are derived from the whole record as each write leaves it
 * (`indexKeys`), never set on their own, so no writer leaves stale index keys.
 */
export const catalogLayout = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /**
   * The partition key prefix of audit entries (`AUDIT#<yyyy-mm-dd>`), which no other item shares: the
   * restore-volume role may put items only under it (`dynamodb:LeadingKeys`).
   */
  auditPrefix: 'AUDIT#',
  /** Sparse index over generations that still have work to do (pending, retention not yet applied, pruning). */
  openWorkIndex: { name: 'open-work', partitionKey: 'openPk', sortKey: 'openSk', partition: 'OPEN' },
  /** Sparse index over generations with an expiry that are not deleted yet, by expiry time. */
  expiryIndex: { name: 'expiry', partitionKey: 'expiryPk', sortKey: 'expirySk', partition: 'EXPIRY' },
} as const;

/** One of the sparse indexes, as the catalog queries it. */
export type CatalogIndex = (typeof catalogIndexes)[number];

/**
 * Every secondary index. Keys only: readers take ids from an index and read the records with one BatchGet,
 * so an index never holds a stale copy of a generation.
 */
export const catalogIndexes = [catalogLayout.openWorkIndex, catalogLayout.expiryIndex] as const;

/** A table key: the partition and sort key of one item. */
export type ItemKey = Record<string, string>;

const GENERATION = 'GEN#';

/** Every key of the catalog table. */
export const catalogKeys = {
  /** The generation record of `id`. */
  generation(id: string): ItemKey {
    return key(`${GENERATION}${id}`, 'GEN');
  },

  /** The generation id of a record's or an index entry's `pk`; undefined for any other item. */
  generationIdOf(pk: unknown): string | undefined {
    return typeof pk === 'string' && pk.startsWith(GENERATION) ? pk.slice(GENERATION.length) : undefined;
  },

  target: (targetId: string) => `TARGET#${targetId}`,
  policy: (policy: string) => `POLICY#${policy}`,
  lineage: (targetId: string, policy: string, schedule: string) =>
    `LINEAGE#${targetId}#${policy}#${schedule}`,
  volume: (volumeId: string) => `VOLUME#${volumeId}`,

  /** The pointer partitions a claim writes: each target (a group's members too), the policy, the lineage. */
  claimPointers(generation: Generation): string[] {
    const { target, policy, schedule } = generation;
    return [
      ...[target.id, ...(target.members ?? [])].map(catalogKeys.target),
      catalogKeys.policy(policy),
      catalogKeys.lineage(target.id, policy, schedule),
    ];
  },

  /** The pointer partitions an outcome writes: each source volume once. */
  volumePointers(generation: Generation): string[] {
    return [...new Set(generation.snapshots.map((s) => catalogKeys.volume(s.volumeId)))];
  },

  /** The pointer item to `generation` in partition `pk`, carrying the id the listing reads. */
  pointer(pk: string, generation: Generation): Record<string, string> {
    return { ...key(pk, `${generation.scheduledAt}#${generation.id}`), id: generation.id };
  },

  /** The highest sort key at or before `at` (ISO): `#` then U+FFFF sorts after every id, so `at` itself is in. */
  until(at: string): string {
    return `${at}#\uffff`;
  },

  /**
   * The sparse index keys a generation carries, derived from the whole record on every write: in open-work
   * while it or a copy has work to do, in expiry, by its soonest expiry, while it or a copy has an expiry and
   * is not deleted; undefined (removed) otherwise.
   */
  indexKeys(generation: Generation): Record<string, string | undefined> {
    const { openWorkIndex: open, expiryIndex: expiry } = catalogLayout;
    const working = hasOpenWork(generation);
    const expiresAt = nextExpiry(generation);
    return {
      [open.partitionKey]: working ? open.partition : undefined,
      [open.sortKey]: working ? `${generation.scheduledAt}#${generation.id}` : undefined,
      [expiry.partitionKey]: expiresAt ? expiry.partition : undefined,
      [expiry.sortKey]: expiresAt ? `${expiresAt}#${generation.id}` : undefined,
    };
  },

  /** Every attribute of an item that is a key, not a field of the generation it stores. */
  keyAttributes: [
    catalogLayout.partitionKey,
    catalogLayout.sortKey,
    ...catalogIndexes.flatMap((index) => [index.partitionKey, index.sortKey]),
  ] as readonly string[],

  /** An audit entry made at `at` (ISO), under its UTC day; `unique` keeps two entries at one instant apart. */
  audit(at: string, unique: string): ItemKey {
    return key(catalogKeys.auditDay(at.slice(0, 10)), `${at}#${unique}`);
  },

  /** The partition of a UTC day's audit entries (`yyyy-mm-dd`). */
  auditDay: (day: string) => `${catalogLayout.auditPrefix}${day}`,

  /** The partition of a target's drill outcomes, newest last by `<finishedAt>#<drill id>`. */
  drills: (targetId: string) => `DRILL#${targetId}`,

  /** The item of one drill outcome of a target. */
  drill(targetId: string, finishedAt: string, drillId: string): ItemKey {
    return key(catalogKeys.drills(targetId), `${finishedAt}#${drillId}`);
  },

  /**
   * The journal of one runbook request (`runbook-journal.ts`): under the audit prefix, so the runbooks' roles,
   * which may put items only there, can keep it.
   */
  runbookRequest(runbook: string, requestId: string): ItemKey {
    return key(`${catalogLayout.auditPrefix}REQUEST#${runbook}#${requestId}`, 'REQUEST');
  },

  /** The copy slots of a destination Region (`copy-slots.ts`). */
  slots(region: string): ItemKey {
    return key(`SLOTS#${region}`, 'SLOTS');
  },
};

function key(pk: string, sk: string): ItemKey {
  return { [catalogLayout.partitionKey]: pk, [catalogLayout.sortKey]: sk };
}
