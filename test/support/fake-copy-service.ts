import type { ImageSnapshot } from '#core/backup/ports.ts';
import type { CopyService, FoundCopy } from '#core/copies/ports.ts';
import { CopyRefusedError } from '#core/model/errors.ts';
import type { SnapshotState } from '#core/model/generation.ts';
import type { Clock, Tags } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { mulberry32 } from '../harness/fault-primitives.ts';
import { anId, Faults } from './fakes.ts';

type CopySnapshotRequest = Parameters<CopyService['copySnapshot']>[0];
type CopyImageRequest = Parameters<CopyService['copyImage']>[0];

type CopyRequests = {
  copySnapshot: CopySnapshotRequest;
  copyImage: CopyImageRequest;
  copiesOfGeneration: { region: string; generationId: string };
  snapshotStates: { region: string; snapshotIds: readonly string[] };
  image: { region: string; imageId: string };
};

export interface FakeCopyOptions {
  clock: Clock;
  /** Copies in flight allowed per destination Region; EBS's quota is 20. Default 20. */
  limit?: number;
  /** Per-Region limits that override `limit`. */
  limitByRegion?: Record<string, number>;
  /** How long a copy stays in flight, by its source snapshot or image id. Default: it completes at once. */
  durationMs?: (sourceId: string) => number;
  /** The snapshots behind a source AMI. Default: one root device. */
  imageDevices?: (sourceImageId: string) => { deviceName: string; sourceSnapshotId: string }[];
  /** Chance that starting a copy is throttled (`RequestLimitExceeded` after the SDK's retries). Default 0. */
  throttleProbability?: number;
  /** Seeds the throttling draws. Default 1. */
  seed?: number;
}

export interface FakeCopy {
  id: string;
  kind: 'snapshot' | 'image';
  region: string;
  sourceRegion: string;
  sourceId: string;
  tags: Tags;
  kmsKeyId?: string;
  description?: string;
  clientToken?: string;
  /** Quota slots held while in flight: one per snapshot (an AMI copy holds one per snapshot behind it). */
  slots: number;
  startedAt: number;
  completesAt: number;
  /** Set by `fail`: the copy ended in error at this time. */
  failedAt?: number;
  /** For an AMI copy: the snapshot copies behind it, by device. */
  devices: { deviceName: string; sourceSnapshotId: string; snapshotId: string }[];
}

interface RegionCounters {
  started: number;
  limitErrors: number;
  throttled: number;
  maxInFlight: number;
}

/**
 * An in-memory `CopyService` on a clock, for unit tests and benchmarks of the copy workflow. It keeps the contract
 * of `Ec2CopyService` and the behaviour of EBS that matters to it:
 * - each destination Region has a concurrent-copy quota; a copy that would pass it is refused with
 *   `CopyRefusedError('limit')`. An AMI copy holds one slot per snapshot behind it, as EBS counts it; one that
 *   needs more slots than the quota has starts only when nothing else is in flight, rather than never;
 * - a copy is `pending` until `durationMs(sourceId)` has passed on the clock, then `completed` (`available`);
 * - starting a copy is throttled with `throttleProbability`, drawn from a seeded PRNG: `CopyRefusedError('throttled')`;
 * - `copyImage` is idempotent by client token per Region, and its snapshots carry the image's tags;
 * - `copiesOfGeneration` finds copies by the tags they were started with, as the real adapter does.
 * Counters per Region (`started`, `limitErrors`, `throttled`, `maxInFlight`, `busyMs`) give utilisation figures.
 */
export class FakeCopyService implements CopyService {
  readonly copies = new Map<string, FakeCopy>();
  readonly calls: { operation: keyof CopyRequests; request: unknown }[] = [];
  readonly faults = new Faults<CopyRequests>();
  private readonly counters = new Map<string, RegionCounters>();
  private readonly random: () => number;

  constructor(private readonly options: FakeCopyOptions) {
    if ((options.limit ?? 1) < 1) throw new RangeError('a copy limit must be at least 1');
    this.random = mulberry32(options.seed ?? 1);
  }

  async copySnapshot(request: CopySnapshotRequest): Promise<string> {
    this.calls.push({ operation: 'copySnapshot', request: structuredClone(request) });
    await this.faults.before('copySnapshot', request);
    const id = anId('snap');
    this.start(request.region, {
      id,
      kind: 'snapshot',
      region: request.region,
      sourceRegion: request.sourceRegion,
      sourceId: request.sourceSnapshotId,
      tags: { ...request.tags },
      kmsKeyId: request.kmsKeyId,
      description: request.description,
      slots: 1,
      devices: [],
    });
    await this.faults.after('copySnapshot', request);
    return id;
  }

  async copyImage(request: CopyImageRequest): Promise<string> {
    this.calls.push({ operation: 'copyImage', request: structuredClone(request) });
    await this.faults.before('copyImage', request);
    const earlier = [...this.copies.values()].find(
      (c) => c.kind === 'image' && c.region === request.region && c.clientToken === request.clientToken,
    );
    if (earlier) {
      if (earlier.sourceId !== request.sourceImageId) {
        throw new CopyRefusedError(
          'refused',
          'CopyImage: IdempotentParameterMismatch: the client token was used for another request',
        );
      }
      return earlier.id;
    }
    const id = anId('snap').replace('snap-', 'ami-');
    const devices = (
      this.options.imageDevices?.(request.sourceImageId) ?? [
        { deviceName: '/dev/xvda', sourceSnapshotId: `snap-of-${request.sourceImageId}` },
      ]
    ).map((device) => ({ ...device, snapshotId: anId('snap') }));
    this.start(request.region, {
      id,
      kind: 'image',
      region: request.region,
      sourceRegion: request.sourceRegion,
      sourceId: request.sourceImageId,
      tags: { ...request.tags },
      kmsKeyId: request.kmsKeyId,
      clientToken: request.clientToken,
      slots: Math.max(1, devices.length),
      devices,
    });
    await this.faults.after('copyImage', request);
    return id;
  }

  async copiesOfGeneration(
    region: string,
    generationId: string,
  ): Promise<{ snapshots: FoundCopy[]; images: FoundCopy[] }> {
    this.calls.push({ operation: 'copiesOfGeneration', request: { region, generationId } });
    await this.faults.before('copiesOfGeneration', { region, generationId });
    const ours = [...this.copies.values()].filter(
      (c) => c.region === region && c.tags[TAG.generation] === generationId && c.tags[TAG.managed] === 'true',
    );
    // The snapshots behind an AMI copy carry the AMI's tags, without a source-snapshot tag: not listed, as in EC2.
    const found = (kind: FakeCopy['kind'], tag: string) =>
      ours
        .filter((c) => c.kind === kind && c.tags[tag])
        .map((c) => ({ sourceId: c.tags[tag] ?? '', id: c.id, state: this.stateOf(c) }));
    return { snapshots: found('snapshot', TAG.sourceSnapshot), images: found('image', TAG.sourceImage) };
  }

  async snapshotStates(region: string, snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>> {
    this.calls.push({ operation: 'snapshotStates', request: { region, snapshotIds: [...snapshotIds] } });
    await this.faults.before('snapshotStates', { region, snapshotIds });
    const states = new Map<string, SnapshotState>();
    for (const copy of this.copies.values()) {
      if (copy.region !== region) continue;
      if (copy.kind === 'snapshot' && snapshotIds.includes(copy.id))
        states.set(copy.id, this.snapshotState(copy));
      for (const device of copy.devices) {
        if (snapshotIds.includes(device.snapshotId)) states.set(device.snapshotId, this.snapshotState(copy));
      }
    }
    return states;
  }

  async image(
    region: string,
    imageId: string,
  ): Promise<{ state: 'pending' | 'available' | 'failed'; snapshots: ImageSnapshot[] } | undefined> {
    this.calls.push({ operation: 'image', request: { region, imageId } });
    await this.faults.before('image', { region, imageId });
    const copy = this.copies.get(imageId);
    if (copy?.kind !== 'image' || copy.region !== region) return undefined;
    const state = this.snapshotState(copy);
    return {
      state: state === 'completed' ? 'available' : state === 'error' ? 'failed' : 'pending',
      snapshots: copy.devices.map((d) => ({ deviceName: d.deviceName, snapshotId: d.snapshotId, state })),
    };
  }

  /** Ends a copy in error now (a copy EBS gave up on); it stops holding its slots. */
  fail(id: string): void {
    const copy = this.copies.get(id);
    if (!copy) throw new Error(`no copy ${id}`);
    const now = this.now();
    if (now < copy.completesAt) copy.failedAt = now;
  }

  /** Removes a copy, as when someone deletes it by hand. */
  delete(id: string): void {
    this.copies.delete(id);
  }

  inFlight(region: string): number {
    const now = this.now();
    return [...this.copies.values()]
      .filter((c) => c.region === region && this.inFlightAt(c, now))
      .reduce((slots, c) => slots + c.slots, 0);
  }

  /** The most quota slots ever held at once in `region`. */
  maxInFlight(region: string): number {
    return this.counter(region).maxInFlight;
  }

  /** Copies started in `region` (AMI copies count once; idempotent repeats not at all). */
  started(region: string): number {
    return this.counter(region).started;
  }

  limitErrors(region: string): number {
    return this.counter(region).limitErrors;
  }

  throttled(region: string): number {
    return this.counter(region).throttled;
  }

  /** Slot-milliseconds in flight in `region` so far: each copy's time in flight times the slots it holds. */
  busyMs(region: string): number {
    const now = this.now();
    return [...this.copies.values()]
      .filter((c) => c.region === region)
      .reduce((sum, c) => sum + c.slots * Math.max(0, Math.min(now, this.endOf(c)) - c.startedAt), 0);
  }

  /** The Regions any copy was asked for. */
  regions(): string[] {
    return [...this.counters.keys()];
  }

  count(operation: keyof CopyRequests): number {
    return this.calls.filter((c) => c.operation === operation).length;
  }

  private start(region: string, copy: Omit<FakeCopy, 'startedAt' | 'completesAt'>): void {
    const counters = this.counter(region);
    const operation = copy.kind === 'image' ? 'CopyImage' : 'CopySnapshot';
    if (this.random() < (this.options.throttleProbability ?? 0)) {
      counters.throttled += 1;
      throw new CopyRefusedError('throttled', `${operation}: RequestLimitExceeded: Request limit exceeded.`);
    }
    const limit = this.options.limitByRegion?.[region] ?? this.options.limit ?? 20;
    const inFlight = this.inFlight(region);
    const oversized = inFlight === 0 && copy.slots > limit;
    if (inFlight + copy.slots > limit && !oversized) {
      counters.limitErrors += 1;
      throw new CopyRefusedError(
        'limit',
        `${operation}: ResourceLimitExceeded: Too many snapshot copies in progress. The limit is ${limit} for this destination region.`,
      );
    }
    const now = this.now();
    const duration = Math.max(0, this.options.durationMs?.(copy.sourceId) ?? 0);
    this.copies.set(copy.id, { ...copy, startedAt: now, completesAt: now + duration });
    counters.started += 1;
    counters.maxInFlight = Math.max(counters.maxInFlight, this.inFlight(region));
  }

  private stateOf(copy: FakeCopy): FoundCopy['state'] {
    const state = this.snapshotState(copy);
    if (copy.kind === 'snapshot') return state;
    return state === 'completed' ? 'available' : state === 'error' ? 'failed' : 'pending';
  }

  private snapshotState(copy: FakeCopy): SnapshotState {
    if (copy.failedAt !== undefined) return 'error';
    return this.now() >= copy.completesAt ? 'completed' : 'pending';
  }

  private inFlightAt(copy: FakeCopy, now: number): boolean {
    return copy.startedAt <= now && now < this.endOf(copy);
  }

  private endOf(copy: FakeCopy): number {
    return copy.failedAt ?? copy.completesAt;
  }

  private counter(region: string): RegionCounters {
    let counters = this.counters.get(region);
    if (!counters) {
      counters = { started: 0, limitErrors: 0, throttled: 0, maxInFlight: 0 };
      this.counters.set(region, counters);
    }
    return counters;
  }

  private now(): number {
    return this.options.clock.now().getTime();
  }
}
