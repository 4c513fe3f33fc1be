import type { Clock } from './fault-primitives.ts';
import type { CallContext, FaultCall, FaultRule, Shape } from './faults.ts';

/**
 * EBS's "Concurrent snapshot copies per destination Region" quota (20 by default, not adjustable:
 * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html). The emulator has no such quota and
 * completes copies at once; these options bring both back.
 */
export interface CopyLimitOptions {
  /** Copies that may be in flight in one destination Region at once. */
  limit: number;
  /** A copy completes this long after it started, on the fault clock. Without it, only `release` completes one. */
  durationMs?: number;
  /** Only copies into these Regions are limited and held pending (default: every Region). */
  regions?: readonly string[];
}

interface Copy {
  region: string;
  kind: 'snapshot' | 'image';
  startedAt: number;
  /** Absent while the call is still on its way to the emulator: a reservation. */
  id?: string;
  done: boolean;
  describes: number;
}

interface Counters {
  started: number;
  limitErrors: number;
  maxInFlight: number;
}

const COPY_ACTIONS = ['CopySnapshot', 'CopyImage'];
/** Outcomes after which a call started no copy. */
const FAILED: ReadonlySet<FaultCall['outcome']> = new Set(['throttled', 'failed', 'error']);

/**
 * The quota as rules plus the controller tests hold. A copy counts from the moment its `CopySnapshot` or
 * `CopyImage` passes the limit check (so concurrent calls cannot all slip under it), and stops counting when it
 * completes, is released, or turns out not to have started (the emulator or a later rule failed the call).
 *
 * An AMI copy counts as one copy. AWS counts each snapshot behind the AMI (its time-based copy docs say so of the
 * throughput quota), but the rule cannot see how many snapshots a source AMI has without a call of its own; tests
 * that need the weight give the quota room for it. While an AMI copy is in flight, `DescribeImages` reports it
 * `pending`, and `DescribeSnapshots` reports the snapshots it has been seen to list as `pending` too.
 *
 * The error message is modelled on EC2's errors page ("you might have too many snapshot copies in progress"); AWS's
 * exact wording was not available to check.
 */
export class CopyLimit {
  private readonly copies: Copy[] = [];
  private readonly byInput = new WeakMap<Shape, Copy>();
  private readonly byId = new Map<string, Copy>();
  /** Snapshots behind an AMI copy, as `DescribeImages` listed them. */
  private readonly behindImage = new Map<string, Copy>();
  private readonly counters = new Map<string, Counters>();
  /** How far the fault layer's call log has been read for failed copy calls. */
  private scanned = 0;

  constructor(
    private readonly opts: CopyLimitOptions,
    private readonly clock: Clock,
    private readonly calls: () => readonly FaultCall[],
  ) {
    if (opts.limit < 0 || (opts.durationMs !== undefined && opts.durationMs < 0)) {
      throw new RangeError('copyLimit needs limit >= 0 and durationMs >= 0');
    }
  }

  /** Completes one copy (a snapshot id or an image id) now. */
  release(id: string): void {
    const copy = this.byId.get(id);
    if (copy) copy.done = true;
  }

  /** Completes every copy started so far, including calls still on their way to the emulator. */
  releaseAll(): void {
    for (const copy of this.copies) copy.done = true;
  }

  inFlight(region: string): number {
    this.settle(this.clock.now());
    return this.active(region).length;
  }

  /** The most copies ever in flight in `region` at once. */
  maxInFlight(region: string): number {
    return this.count(region).maxInFlight;
  }

  /** `ResourceLimitExceeded` errors answered for `region`. */
  limitErrors(region: string): number {
    return this.count(region).limitErrors;
  }

  /** Copies the emulator started in `region` while the rule watched. */
  started(region: string): number {
    return this.count(region).started;
  }

  rules(): FaultRule[] {
    return [
      {
        actions: COPY_ACTIONS,
        before: (call) => this.admit(call),
        after: (output, call) => this.confirm(output, call),
      },
      {
        actions: ['DescribeSnapshots'],
        after: (output, call) => this.describeSnapshots(output, call),
      },
      {
        actions: ['DescribeImages'],
        after: (output, call) => this.describeImages(output, call),
      },
    ];
  }

  private admit(call: CallContext) {
    const region = regionOf(call);
    if (!this.limits(region)) return undefined;
    this.settle(call.now);
    // An SDK retry sends the same input object again: it keeps the place it already has.
    if (this.byInput.has(call.input)) return undefined;
    const counters = this.count(region);
    if (this.active(region).length >= this.opts.limit) {
      counters.limitErrors += 1;
      return {
        error: {
          name: 'ResourceLimitExceeded',
          message: `Too many snapshot copies in progress. The limit is ${this.opts.limit} for this destination region.`,
          httpStatusCode: 400,
          fault: 'client' as const,
        },
      };
    }
    const copy: Copy = {
      region,
      kind: call.action === 'CopyImage' ? 'image' : 'snapshot',
      startedAt: call.now,
      done: false,
      describes: 0,
    };
    this.copies.push(copy);
    this.byInput.set(call.input, copy);
    counters.maxInFlight = Math.max(counters.maxInFlight, this.active(region).length);
    return undefined;
  }

  private confirm(output: Shape, call: CallContext): Shape {
    const copy = this.byInput.get(call.input);
    const id = (call.action === 'CopyImage' ? output.ImageId : output.SnapshotId) as string | undefined;
    if (!copy || copy.id || !id) return output;
    if (this.byId.has(id)) {
      // An idempotent answer (a repeated ClientToken) names a copy already counted: this call started nothing.
      copy.done = true;
      this.byInput.delete(call.input);
      return output;
    }
    copy.id = id;
    this.byId.set(id, copy);
    this.count(copy.region).started += 1;
    return output;
  }

  private describeSnapshots(output: Shape, call: CallContext): Shape {
    this.settle(call.now);
    const snapshots = ((output.Snapshots ?? []) as Shape[]).map((snapshot) => {
      const id = snapshot.SnapshotId as string | undefined;
      const copy = id ? (this.byId.get(id) ?? this.behindImage.get(id)) : undefined;
      if (!copy || !this.pendingIn(copy, call)) return snapshot;
      return { ...snapshot, State: 'pending', Progress: `${this.progress(copy, call.now)}%` };
    });
    const wanted = filterValues(call.input, 'status');
    return {
      ...output,
      Snapshots: wanted ? snapshots.filter((s) => wanted.includes(s.State as string)) : snapshots,
    };
  }

  private describeImages(output: Shape, call: CallContext): Shape {
    this.settle(call.now);
    const images = ((output.Images ?? []) as Shape[]).map((image) => {
      const copy = this.byId.get(image.ImageId as string);
      if (copy?.kind !== 'image' || !this.pendingIn(copy, call)) return image;
      for (const mapping of (image.BlockDeviceMappings ?? []) as { Ebs?: { SnapshotId?: string } }[]) {
        if (mapping.Ebs?.SnapshotId) this.behindImage.set(mapping.Ebs.SnapshotId, copy);
      }
      return { ...image, State: 'pending' };
    });
    const wanted = filterValues(call.input, 'state');
    return { ...output, Images: wanted ? images.filter((i) => wanted.includes(i.State as string)) : images };
  }

  private pendingIn(copy: Copy, call: CallContext): boolean {
    return !copy.done && (call.region === undefined || call.region === copy.region);
  }

  /** Rising: by elapsed time when copies have a duration, else ten points a describe, short of 100. */
  private progress(copy: Copy, now: number): number {
    copy.describes += 1;
    const { durationMs } = this.opts;
    const fraction = durationMs ? (now - copy.startedAt) / durationMs : copy.describes / 10;
    return Math.min(99, Math.floor(fraction * 100));
  }

  /** Completes copies whose time is up and forgets reservations whose call failed. */
  private settle(now: number): void {
    const { durationMs } = this.opts;
    if (durationMs !== undefined) {
      for (const copy of this.copies) if (now - copy.startedAt >= durationMs) copy.done = true;
    }
    const calls = this.calls();
    for (; this.scanned < calls.length; this.scanned++) {
      const call = calls[this.scanned];
      if (!call || !COPY_ACTIONS.includes(call.action) || !FAILED.has(call.outcome)) continue;
      const copy = this.byInput.get(call.input);
      if (copy && !copy.id) {
        copy.done = true;
        this.byInput.delete(call.input);
      }
    }
    for (let i = this.copies.length - 1; i >= 0; i--) if (this.copies[i]?.done) this.copies.splice(i, 1);
  }

  private active(region: string): Copy[] {
    return this.copies.filter((copy) => copy.region === region && !copy.done);
  }

  private limits(region: string): boolean {
    return !this.opts.regions || this.opts.regions.includes(region);
  }

  private count(region: string): Counters {
    let counters = this.counters.get(region);
    if (!counters) {
      counters = { started: 0, limitErrors: 0, maxInFlight: 0 };
      this.counters.set(region, counters);
    }
    return counters;
  }
}

/** The destination Region: the client's, or the `DestinationRegion` the SDK adds to `CopySnapshot` itself. */
function regionOf(call: CallContext): string {
  return call.region ?? (call.input.DestinationRegion as string | undefined) ?? 'unknown';
}

function filterValues(input: Shape, name: string): string[] | undefined {
  const filters = (input.Filters ?? []) as { Name?: string; Values?: string[] }[];
  return filters.find((f) => f.Name === name)?.Values;
}
