import { z } from 'zod';
import type {
  CopiedImage,
  CopiedSnapshot,
  CopyRecord,
  Generation,
  SnapshotRecord,
  Target,
} from './generation.ts';

/**
 * A generation record as stored (in the catalog, in a manifest), for parsing what comes back from storage at
 * the boundary: a record that does not match fails there, naming its fields, instead of deep in the core. The
 * types in `generation.ts` stay the source of the domain's words; the checks at the bottom of this file fail the
 * type check when the two disagree in either direction.
 */

const iso = z.string().min(1);
const snapshotState = z.enum(['pending', 'completed', 'error']);
const consistency = z.enum(['application', 'filesystem', 'crash', 'failed']);

/** Retention's fields, the same on a generation and on each of its copies. */
const lifecycle = {
  expiresAt: iso.optional(),
  retentionAppliedAt: iso.optional(),
  pruneStartedAt: iso.optional(),
  deletedAt: iso.optional(),
  heldBecause: z.string().optional(),
  notes: z.array(z.string()).optional(),
};

const SnapshotRecordSchema = z.object({
  volumeId: z.string(),
  snapshotId: z.string(),
  region: z.string(),
  state: snapshotState,
  consistency,
  deviceName: z.string().optional(),
  instanceId: z.string().optional(),
  amiId: z.string().optional(),
  sizeGiB: z.number().optional(),
  volumeType: z.string().optional(),
  iops: z.number().optional(),
  throughput: z.number().optional(),
  encrypted: z.boolean().optional(),
  volumeTags: z.record(z.string(), z.string()),
});

const CopyRecordSchema = z.object({
  region: z.string(),
  state: z.enum(['queued', 'pending', 'completed', 'failed']),
  snapshotIds: z.array(z.string()),
  snapshots: z.array(
    z.object({
      sourceSnapshotId: z.string(),
      volumeId: z.string(),
      snapshotId: z.string().optional(),
      state: z.enum(['waiting', 'pending', 'completed', 'error']),
      viaImage: z.string().optional(),
      deviceName: z.string().optional(),
    }),
  ),
  images: z.array(
    z.object({
      sourceImageId: z.string(),
      imageId: z.string().optional(),
      state: z.enum(['waiting', 'pending', 'available', 'failed']),
    }),
  ),
  kmsKeyId: z.string().optional(),
  queuedAt: iso,
  startedAt: iso.optional(),
  completedAt: iso.optional(),
  lagSeconds: z.number().optional(),
  failure: z.string().optional(),
  ...lifecycle,
});

/** One generation record. Attributes it does not name are dropped. */
export const GenerationSchema = z.object({
  id: z.string().min(1),
  policy: z.string(),
  schedule: z.string(),
  target: z.object({
    kind: z.enum(['instance', 'volume', 'group']),
    id: z.string(),
    members: z.array(z.string()).optional(),
  }),
  scheduledAt: iso,
  takenAt: iso.optional(),
  claimedAt: iso,
  state: z.enum(['pending', 'completed', 'failed']),
  consistency,
  snapshots: z.array(SnapshotRecordSchema),
  amiId: z.string().optional(),
  freezeWindowMs: z.number().optional(),
  copies: z.array(CopyRecordSchema),
  ...lifecycle,
  failure: z.string().optional(),
  revision: z.number().int().nonnegative().optional(),
  manifestStaleAt: iso.optional(),
});

/** Each problem of a failed parse as `<path>: <message>`, `; `-joined; `whole` names a problem of the value itself. */
export function schemaProblems(error: z.ZodError, whole: string): string {
  return error.issues.map((issue) => `${issue.path.join('.') || whole}: ${issue.message}`).join('; ');
}

/** Same keys, and each assignable to the other: a field added to the types but not here (or here but not there),
 * optional ones included, fails the type check. */
type Same<A, B> = [keyof A, A] extends [keyof B, B]
  ? [keyof B, B] extends [keyof A, A]
    ? true
    : false
  : false;
type Copy = z.infer<typeof CopyRecordSchema>;
const checks: [
  Same<z.infer<typeof GenerationSchema>, Generation>,
  Same<z.infer<typeof GenerationSchema>['target'], Target>,
  Same<z.infer<typeof SnapshotRecordSchema>, SnapshotRecord>,
  Same<Copy, CopyRecord>,
  Same<Copy['snapshots'][number], CopiedSnapshot>,
  Same<Copy['images'][number], CopiedImage>,
] = [true, true, true, true, true, true];
void checks;
