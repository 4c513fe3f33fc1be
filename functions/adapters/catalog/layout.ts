/**
 * The physical layout of the catalog table, shared by the CDK construct (which creates it in AWS), the `init`
 * command (which creates it in a local sandbox) and `DynamoCatalog` (which reads and writes it), so the three
 * can never disagree. The meaning of each key is documented in `catalog.ts`.
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
  openWorkIndex: { name: 'open-work', partitionKey: 'openPk', sortKey: 'openSk' },
  /** Sparse index over generations with an expiry that are not deleted yet, by expiry time. */
  expiryIndex: { name: 'expiry', partitionKey: 'expiryPk', sortKey: 'expirySk' },
} as const;

/**
 * Every secondary index. Keys only: readers take ids from an index and read the records with one BatchGet,
 * so an index never holds a stale copy of a generation.
 */
export const catalogIndexes = [catalogLayout.openWorkIndex, catalogLayout.expiryIndex] as const;
