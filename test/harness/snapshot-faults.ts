import type { CallContext, FaultRule, Shape } from './faults.ts';

/**
 * How long a snapshot stays `pending`. The emulator completes snapshots instantly; real EBS snapshots take
 * minutes to hours, and the product has to poll. Give one of the two.
 */
export interface PendingSnapshotsOptions {
  /** Pending for this many `DescribeSnapshots` results that include the snapshot; completed after. */
  forCalls?: number;
  /** Pending until this long (on the fault clock) after the snapshot was first seen. */
  forMs?: number;
}

interface SnapshotLike {
  SnapshotId?: string;
  State?: string;
  Progress?: string;
}

/**
 * Rules that make `CreateSnapshot`, `CreateSnapshots` and `DescribeSnapshots` report new snapshots as
 * `pending` with a rising `Progress`. A snapshot is "new" when the rules first see it, so copies turn up
 * pending too once described. A `status` filter in `DescribeSnapshots` is re-applied to the rewritten states
 * (a `completed` filter hides still-pending snapshots); snapshots the emulator did not return cannot be added.
 */
export function pendingSnapshotsRules(opts: PendingSnapshotsOptions): FaultRule[] {
  if (opts.forCalls === undefined && opts.forMs === undefined) {
    throw new RangeError('pendingSnapshots needs forCalls or forMs');
  }
  const describes = new Map<string, number>();
  const firstSeen = new Map<string, number>();

  /** Progress fraction in [0, 1) while pending, or undefined once the snapshot counts as completed. */
  function pendingFraction(id: string, now: number, describing: boolean): number | undefined {
    if (!firstSeen.has(id)) firstSeen.set(id, now);
    const seen = (describes.get(id) ?? 0) + (describing ? 1 : 0);
    describes.set(id, seen);
    const fractions: number[] = [];
    if (opts.forCalls !== undefined) {
      if (seen > opts.forCalls) return undefined;
      fractions.push(seen / (opts.forCalls + 1));
    }
    if (opts.forMs !== undefined) {
      const elapsed = now - (firstSeen.get(id) ?? now);
      if (elapsed >= opts.forMs) return undefined;
      fractions.push(elapsed / opts.forMs);
    }
    return Math.min(...fractions);
  }

  function rewrite(snapshot: SnapshotLike, call: CallContext, describing: boolean): SnapshotLike {
    if (!snapshot.SnapshotId || snapshot.State !== 'completed') return snapshot;
    const fraction = pendingFraction(snapshot.SnapshotId, call.now, describing);
    if (fraction === undefined) return snapshot;
    return { ...snapshot, State: 'pending', Progress: `${Math.min(99, Math.floor(fraction * 100))}%` };
  }

  return [
    {
      actions: ['CreateSnapshot'],
      after: (output, call) => rewrite(output, call, false) as Shape,
    },
    {
      actions: ['CreateSnapshots', 'DescribeSnapshots'],
      after: (output, call) => {
        const describing = call.action === 'DescribeSnapshots';
        const snapshots = ((output.Snapshots ?? []) as SnapshotLike[]).map((s) =>
          rewrite(s, call, describing),
        );
        const wanted = describing ? statusFilter(call.input) : undefined;
        return {
          ...output,
          Snapshots: wanted ? snapshots.filter((s) => wanted.includes(s.State ?? '')) : snapshots,
        };
      },
    },
  ];
}

function statusFilter(input: Shape): string[] | undefined {
  const filters = (input.Filters ?? []) as { Name?: string; Values?: string[] }[];
  return filters.find((f) => f.Name === 'status')?.Values;
}
