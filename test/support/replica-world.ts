import type { CopyRecord, Generation } from '#core/model/generation.ts';
import { aConfig, aPolicy, aVolume, aWorld } from './fakes.ts';
import { aCopy, aGenerationOn } from './lifecycle-builders.ts';

/**
 * A world for tests that run once for each kind of replica (the primary snapshots, a DR copy): a `daily` volumes
 * policy keeping 1, copied to `DR` under the same keep, and one live volume.
 */

export const PRIMARY = 'us-east-1';
export const DR = 'us-west-2';
export const NOW = '2026-11-21T12:00:00.000Z';
export const EXPIRED = '2026-11-20T00:00:00.000Z';

export const replicaConfig = aConfig({
  policies: [
    aPolicy({
      targets: 'volumes',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 1 } }],
      copies: [{ region: DR }],
    }),
  ],
});

export type ReplicaKind = 'primary' | 'copy';

/**
 * Each kind: the record its lifecycle fields live on, its snapshots, and how to make just that replica of a
 * generation due.
 */
export const REPLICA_KINDS = [
  {
    kind: 'primary' as ReplicaKind,
    record: (g: Generation): Generation | CopyRecord => g,
    snapshotIds: (g: Generation): string[] => g.snapshots.map((s) => s.snapshotId),
    due: (g: Generation, expiresAt = EXPIRED): Generation => ({ ...g, expiresAt }),
  },
  {
    kind: 'copy' as ReplicaKind,
    record: (g: Generation): Generation | CopyRecord => g.copies[0] as CopyRecord,
    snapshotIds: (g: Generation): string[] => g.copies[0]?.snapshotIds ?? [],
    due: (g: Generation, expiresAt = EXPIRED): Generation => ({
      ...g,
      copies: g.copies.map((c) => ({ ...c, expiresAt })),
    }),
  },
];

/** A world at NOW with a live volume; `copiedOn(day)` makes a completed generation of it with a completed copy. */
export function aReplicaWorld() {
  const world = aWorld({ config: replicaConfig, now: NOW });
  const volume = aVolume();
  world.ec2.add(volume);
  const copiedOn = (day: number, fields: Partial<Generation> & { volumes?: number } = {}): Generation => {
    const taken = aGenerationOn(day, { volumeId: volume.volumeId, ...fields });
    return { ...taken, copies: [aCopy(taken, DR, 'completed')] };
  };
  const stored = async (id: string): Promise<Generation> => {
    const generation = await world.catalog.get(id);
    if (!generation) throw new Error(`no generation ${id}`);
    return generation;
  };
  return { ...world, volumeId: volume.volumeId, copiedOn, stored };
}
