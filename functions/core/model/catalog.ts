import type { CopyRecord, Generation, GenerationField } from './generation.ts';

/** The generation catalog's port. `DynamoCatalog` (`adapters/catalog/`) is the only code that knows the key layout. */

/** Outcome of trying to claim a generation for a run. */
export type ClaimResult = { claimed: true } | { claimed: false; existing: Generation };

export interface GenerationQuery {
  /** Only generations taken at or before this ISO time. */
  atOrBefore?: string;
  limit?: number;
}

export interface AuditEntry {
  at: string;
  action: string;
  actor: string;
  dryRun: boolean;
  request: Record<string, unknown>;
  result: Record<string, unknown>;
}

/**
 * Finding generations: what restore and `generations` need, and all that the manifests can answer when the
 * catalog is unreachable (`ManifestCatalog`). Every listing is newest first by `scheduledAt`.
 */
export interface CatalogReader {
  get(generationId: string): Promise<Generation | undefined>;
  /** Newest first: the generations of one target, policy and schedule, the unit retention counts in. */
  lineage(targetId: string, policy: string, schedule: string, query?: GenerationQuery): Promise<Generation[]>;
  /** Newest first. */
  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]>;
  /** Newest first by scheduledAt: every generation holding a snapshot of this volume (standalone or in an
   * instance set). `atOrBefore` bounds scheduledAt; callers that need the point in time check takenAt. */
  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]>;
  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]>;
}

/** Where runbooks record what they did (`restore-volume`, `retry-copy`, ...). */
export interface AuditTrail {
  audit(entry: AuditEntry): Promise<void>;
}

/**
 * Writing generations. Every write is conditioned on the record's `revision`, so concurrent writers (runs,
 * reconcile, copy workers) never overwrite each other's fields.
 */
export interface CatalogWriter {
  /** Creates the generation unless one with its id exists (the idempotency of runs). */
  claim(generation: Generation): Promise<ClaimResult>;
  /** Takes over a stale or failed claim with no snapshots, only if nobody else did since `previousClaimedAt`. */
  takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean>;
  /**
   * Records what a run or reconcile established about a generation: its snapshots, `takenAt`, state,
   * consistency, AMI, freeze window, failure and notes (cleared when absent), and indexes it by each source volume.
   */
  recordOutcome(generation: Generation): Promise<void>;
  recordFailure(generationId: string, failure: string): Promise<void>;
  /**
   * Marks the generation's manifest stale (`{ at }`: its write failed then), which puts the generation in the
   * open-work index; or clears the mark (`{ clearIf }`) only if it is still the one set at that time, so a
   * failure marked meanwhile is not lost. Allowed on a deleted generation: its last manifest matters most.
   */
  markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void>;
  /**
   * Writes the named fields of a generation (set when defined, removed when not); never a deleted one. When
   * someone else wrote the record since it was read, the fields are written onto the record as it is now.
   * Sets the passed generation's `revision` to the one written, so the caller's next write builds on it.
   */
  update(generation: Generation, fields: readonly GenerationField[]): Promise<void>;
  /**
   * Changes one Region's copy record: `change` gets the copy as the catalog holds it now (undefined when there is
   * none) and returns the new one, or undefined to leave it as it is. It may be called again with a fresher
   * record when another writer got there first. Allowed after the primary snapshots were deleted: a copy has its
   * own life. Resolves with the generation as written, or undefined when it does not exist.
   */
  updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined>;
}

/**
 * The generation catalog: its reads, its writes, its audit trail, and the two work indexes only it keeps (open
 * work for reconcile, expiry for pruning). `DynamoCatalog` is the only code that knows the key layout.
 */
export interface Catalog extends CatalogReader, CatalogWriter, AuditTrail {
  /** Generations that still have work to do (`hasOpenWork`), oldest first, from the sparse open-work index. */
  openGenerations(limit?: number): Promise<Generation[]>;
  /** Generations whose expiry is at or before this ISO time and that are not deleted, soonest first. */
  expiring(atOrBefore: string, limit?: number): Promise<Generation[]>;
}

/** What `recordOutcome` establishes about a generation (a run's or reconcile's outcome): every catalog writes
 * exactly these fields, the DynamoDB one and the unit tests' fake alike. */
export const OUTCOME_FIELDS: readonly GenerationField[] = [
  'snapshots',
  'takenAt',
  'state',
  'consistency',
  'amiId',
  'freezeWindowMs',
  'failure',
  'notes',
];
