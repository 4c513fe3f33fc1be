/**
 * The physical layout of the catalog table, shared by the CDK construct (which creates it in AWS), the `init`
 * command (which creates it in a local sandbox) and `DynamoCatalog` (which reads and writes it), so the three
 * can never disagree. The meaning of each key is documented in `catalog.ts`.
 */
export const catalogLayout = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Sparse index over generations that still have work to do (pending, copying, pruning). */
  openWorkIndex: { name: 'open-work', partitionKey: 'openPk', sortKey: 'openSk' },
} as const;
