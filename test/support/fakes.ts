import type { z } from 'zod';
import { backUpOnDemand, type OnDemandRequest } from '#core/backup/on-demand.ts';
import type {
  Account,
  CreatedSnapshot,
  FoundSnapshot,
  InstanceInfo,
  Inventory,
  SnapshotService,
  VolumeInfo,
} from '#core/backup/ports.ts';
import { type RunDeps, type RunRequest, runSchedule } from '#core/backup/run.ts';
import { type Config, type ConfigSchema, parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { type Generation, generationId, type SnapshotState, type Target } from '#core/model/generation.ts';
import type { Clock, Log, Tags } from '#core/model/ports.ts';
import { TAG, userTags } from '#core/model/tags.ts';
import type { VolumeInitialization, VolumeService } from '#core/recovery/ports.ts';
import { parseRestoreRequest, restoreVolume } from '#core/recovery/restore.ts';
import { FakeCatalog } from './fake-catalog.ts';
import { FakeMarkKey } from './fake-mark-key.ts';
import { FakePruner } from './fake-pruner.ts';

/**
 * In-memory implementations of the core's ports (each capability's `ports.ts` in `functions/core/`), for unit
 * tests of the core; the catalog's is in `fake-catalog.ts`, checked against `DynamoCatalog` by one contract suite.
 * Each keeps the contract of its real adapter, copies data in and out so the core cannot lean on shared
 * references, and yields between awaits like real I/O.
 */

/** Throws or runs code at chosen calls of a fake. `Requests` maps each operation to its request. */
export class Faults<Requests extends Record<string, unknown>> {
  private readonly rules: {
    operation: keyof Requests;
    when: (request: never) => boolean;
    error?: unknown;
    afterEffect: boolean;
    remaining: number;
    run?: (request: never) => void | Promise<void>;
  }[] = [];

  /** The next `times` calls of `operation` that match `when` throw; with `afterEffect`, after doing their work, as when a response is lost. */
  failNext<Op extends keyof Requests>(
    operation: Op,
    options: {
      error?: unknown;
      times?: number;
      when?: (request: Requests[Op]) => boolean;
      afterEffect?: boolean;
    } = {},
  ): void {
    this.rules.push({
      operation,
      when: options.when ?? (() => true),
      error: options.error ?? new Error(`injected ${String(operation)} failure`),
      afterEffect: options.afterEffect ?? false,
      remaining: options.times ?? 1,
    });
  }

  /** Runs `run` before every call of `operation` (advance a clock, crash a test's "Lambda", ...). */
  onCall<Op extends keyof Requests>(
    operation: Op,
    run: (request: Requests[Op]) => void | Promise<void>,
  ): void {
    this.rules.push({
      operation,
      when: () => true,
      afterEffect: false,
      remaining: Number.POSITIVE_INFINITY,
      run,
    });
  }

  async before<Op extends keyof Requests>(operation: Op, request: Requests[Op]): Promise<void> {
    await Promise.resolve(); // a real call never completes in the same tick
    await this.apply(operation, request, false);
  }

  async after<Op extends keyof Requests>(operation: Op, request: Requests[Op]): Promise<void> {
    await this.apply(operation, request, true);
  }

  private async apply<Op extends keyof Requests>(operation: Op, request: Requests[Op], afterEffect: boolean) {
    for (const rule of this.rules) {
      if (rule.operation !== operation || rule.afterEffect !== afterEffect || rule.remaining <= 0) continue;
      if (!(rule.when as (r: Requests[Op]) => boolean)(request)) continue;
      rule.remaining -= 1;
      if (rule.run) await (rule.run as (r: Requests[Op]) => void | Promise<void>)(request);
      else throw rule.error;
    }
  }
}

export class FakeClock implements Clock {
  private time: number;
  constructor(start = '2026-11-21T03:00:00.000Z') {
    this.time = Date.parse(start);
  }
  now(): Date {
    return new Date(this.time);
  }
  set(iso: string): void {
    this.time = Date.parse(iso);
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

export class CollectingLog implements Log {
  readonly entries: LogEntry[] = [];
  debug = (message: string, data?: Record<string, unknown>) =>
    this.entries.push({ level: 'debug', message, data });
  info = (message: string, data?: Record<string, unknown>) =>
    this.entries.push({ level: 'info', message, data });
  warn = (message: string, data?: Record<string, unknown>) =>
    this.entries.push({ level: 'warn', message, data });
  error = (message: string, data?: Record<string, unknown>) =>
    this.entries.push({ level: 'error', message, data });
  messages(level?: LogEntry['level']): string[] {
    return this.entries.filter((e) => !level || e.level === level).map((e) => e.message);
  }
}

let counter = 0;
/** AWS-shaped ids (`vol-0…`, 17 hex digits), unique within a test process. */
export function anId(prefix: 'i' | 'vol' | 'snap'): string {
  counter += 1;
  return `${prefix}-0${counter.toString(16).padStart(16, '0')}`;
}

/** `{ 'snapkeeper:policy': 'a,b' }`. */
export function policyTag(...policies: string[]): Tags {
  return { [TAG.policy]: policies.join(',') };
}

export function aVolume(
  options: Partial<Omit<VolumeInfo, 'volumeId'>> & { volumeId?: string } = {},
): VolumeInfo {
  return {
    volumeId: options.volumeId ?? anId('vol'),
    availabilityZone: 'us-east-1a',
    sizeGiB: 10,
    volumeType: 'gp3',
    iops: 3000,
    throughput: 125,
    encrypted: true,
    state: 'available',
    tags: {},
    attachments: [],
    ...options,
  };
}

export interface FleetInstance {
  instance: InstanceInfo;
  /** Attached volumes in device order; the first is the boot volume. */
  volumes: VolumeInfo[];
  instanceId: string;
  bootVolumeId: string;
  dataVolumeIds: string[];
  volumeIds: string[];
}

const ROOT_DEVICE = '/dev/xvda';
const DATA_DEVICES = ['/dev/sdf', '/dev/sdg', '/dev/sdh', '/dev/sdi', '/dev/sdj'];

/** An instance with `volumes` attached volumes (default 2: boot and one data volume); `volumeTags[i]` tags volume i. */
export function anInstance(
  options: { volumes?: number; tags?: Tags; state?: string; volumeTags?: Tags[]; platform?: string } = {},
): FleetInstance {
  const instanceId = anId('i');
  const volumes = Array.from({ length: options.volumes ?? 2 }, (_, i) => {
    const deviceName =
      i === 0 ? ROOT_DEVICE : (DATA_DEVICES[i - 1] ?? `/dev/sd${String.fromCharCode(102 + i)}`);
    return aVolume({
      sizeGiB: i === 0 ? 8 : 10 + 10 * i,
      state: 'in-use',
      tags: options.volumeTags?.[i] ?? {},
      attachments: [{ instanceId, deviceName }],
    });
  });
  const instance: InstanceInfo = {
    instanceId,
    state: options.state ?? 'running',
    rootDeviceName: ROOT_DEVICE,
    platform: options.platform,
    tags: options.tags ?? {},
    volumes: volumes.map((v) => ({ volumeId: v.volumeId, deviceName: v.attachments[0]?.deviceName ?? '' })),
  };
  const volumeIds = volumes.map((v) => v.volumeId);
  return {
    instance,
    volumes,
    instanceId,
    bootVolumeId: volumeIds[0] ?? '',
    dataVolumeIds: volumeIds.slice(1),
    volumeIds,
  };
}

export interface FakeSnapshot extends CreatedSnapshot {
  tags: Tags;
  description: string;
  /** EC2's StartTime and OwnerId; a snapshot a test puts straight into the map started just now, in our account. */
  startedAt?: string;
  ownerId?: string;
}

/** The account every fake resource belongs to (moto's, so unit and emulator tests read alike). */
export const FAKE_ACCOUNT = '123456789012';

type SnapshotInstanceRequest = Parameters<SnapshotService['snapshotInstance']>[0];
type SnapshotVolumeRequest = Parameters<SnapshotService['snapshotVolume']>[0];

export type CreateCall =
  | { operation: 'CreateSnapshots'; at: string; request: SnapshotInstanceRequest; snapshotIds: string[] }
  | { operation: 'CreateSnapshot'; at: string; request: SnapshotVolumeRequest; snapshotIds: string[] };

type Ec2Requests = {
  instancesTaggedFor: string;
  volumesTaggedFor: string;
  volumes: readonly string[];
  snapshotInstance: SnapshotInstanceRequest;
  snapshotVolume: SnapshotVolumeRequest;
  snapshotStates: readonly string[];
  snapshotsOfGenerations: readonly string[];
  instances: readonly string[];
};

/** EC2 over a small in-memory fleet: the Inventory and the SnapshotService, recording every create call. */
export class FakeEc2 implements Inventory, SnapshotService, Account {
  readonly instanceMap = new Map<string, InstanceInfo>();
  readonly volumeMap = new Map<string, VolumeInfo>();
  readonly snapshots = new Map<string, FakeSnapshot>();
  readonly createCalls: CreateCall[] = [];
  readonly faults = new Faults<Ec2Requests>();
  /** The state a new snapshot starts in; EBS starts them `pending`. */
  startState: SnapshotState = 'pending';

  constructor(readonly clock: Clock = new FakeClock()) {}

  async accountId(): Promise<string> {
    await Promise.resolve();
    return FAKE_ACCOUNT;
  }

  /**
   * As a principal allowed only to tag would: a snapshot of `volumeId` (another volume, another account, or taken
   * long ago) that carries `tags`, such as a generation's.
   */
  forgeSnapshot(fields: { volumeId: string; tags: Tags; ownerId?: string; startedAt?: string }): string {
    const snapshotId = anId('snap');
    this.snapshots.set(snapshotId, {
      snapshotId,
      volumeId: fields.volumeId,
      state: 'completed',
      tags: { ...fields.tags },
      description: 'not made by snapkeeper',
      startedAt: fields.startedAt ?? this.clock.now().toISOString(),
      ownerId: fields.ownerId ?? FAKE_ACCOUNT,
    });
    return snapshotId;
  }

  add(...items: (FleetInstance | VolumeInfo)[]): this {
    for (const item of items) {
      if ('instance' in item) {
        this.instanceMap.set(item.instanceId, structuredClone(item.instance));
        for (const volume of item.volumes) this.volumeMap.set(volume.volumeId, structuredClone(volume));
      } else {
        this.volumeMap.set(item.volumeId, structuredClone(item));
      }
    }
    return this;
  }

  /** Snapshots taken so far, in creation order. */
  allSnapshots(): FakeSnapshot[] {
    return [...this.snapshots.values()];
  }

  setSnapshotState(snapshotId: string, state: SnapshotState): void {
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) throw new Error(`no snapshot ${snapshotId}`);
    snapshot.state = state;
  }

  completeAll(): void {
    for (const snapshot of this.snapshots.values()) snapshot.state = 'completed';
  }

  /** As an operator deleting a snapshot by hand. */
  deleteSnapshot(snapshotId: string): void {
    this.snapshots.delete(snapshotId);
  }

  async instancesTaggedFor(policy: string): Promise<InstanceInfo[]> {
    await this.faults.before('instancesTaggedFor', policy);
    // Like the adapter's server-side filter `*policy*`: a superset that callers narrow exactly.
    return [...this.instanceMap.values()]
      .filter((i) => i.tags[TAG.policy]?.includes(policy))
      .map((i) => structuredClone(i));
  }

  async taggedResources(): Promise<{ instances: InstanceInfo[]; volumes: VolumeInfo[] }> {
    await Promise.resolve();
    const tagged = <T extends { tags: Tags }>(items: Iterable<T>) =>
      [...items].filter((item) => TAG.policy in item.tags).map((item) => structuredClone(item));
    return { instances: tagged(this.instanceMap.values()), volumes: tagged(this.volumeMap.values()) };
  }

  async volumesTaggedFor(policy: string): Promise<VolumeInfo[]> {
    await this.faults.before('volumesTaggedFor', policy);
    return [...this.volumeMap.values()]
      .filter((v) => v.tags[TAG.policy]?.includes(policy))
      .map((v) => structuredClone(v));
  }

  async volumes(volumeIds: readonly string[]): Promise<VolumeInfo[]> {
    await this.faults.before('volumes', volumeIds);
    return volumeIds.flatMap((id) => {
      const volume = this.volumeMap.get(id);
      return volume ? [structuredClone(volume)] : [];
    });
  }

  async snapshotInstance(request: SnapshotInstanceRequest): Promise<CreatedSnapshot[]> {
    const at = this.clock.now().toISOString(); // when the call was made, before any injected delay
    await this.faults.before('snapshotInstance', request);
    const instance = this.instanceMap.get(request.instanceId);
    if (!instance) throw new Error(`InvalidInstanceID.NotFound: ${request.instanceId}`);
    const created = instance.volumes
      .filter((v) => !(request.excludeBootVolume && v.deviceName === instance.rootDeviceName))
      .filter((v) => !request.excludeVolumeIds.includes(v.volumeId))
      .map((v) => {
        const volumeTags = request.copyVolumeTags ? userTags(this.volumeMap.get(v.volumeId)?.tags ?? {}) : {};
        return this.takeSnapshot(v.volumeId, { ...volumeTags, ...request.tags }, request.description);
      });
    this.createCalls.push({
      operation: 'CreateSnapshots',
      at,
      request: structuredClone(request),
      snapshotIds: created.map((s) => s.snapshotId),
    });
    await this.faults.after('snapshotInstance', request);
    return created;
  }

  async snapshotVolume(request: SnapshotVolumeRequest): Promise<CreatedSnapshot> {
    const at = this.clock.now().toISOString(); // when the call was made, before any injected delay
    await this.faults.before('snapshotVolume', request);
    if (!this.volumeMap.has(request.volumeId)) throw new Error(`InvalidVolume.NotFound: ${request.volumeId}`);
    const created = this.takeSnapshot(request.volumeId, request.tags, request.description);
    this.createCalls.push({
      operation: 'CreateSnapshot',
      at,
      request: structuredClone(request),
      snapshotIds: [created.snapshotId],
    });
    await this.faults.after('snapshotVolume', request);
    return created;
  }

  async snapshotStates(snapshotIds: readonly string[]): Promise<Map<string, SnapshotState>> {
    await this.faults.before('snapshotStates', snapshotIds);
    const states = new Map<string, SnapshotState>();
    for (const id of snapshotIds) {
      const snapshot = this.snapshots.get(id);
      if (snapshot) states.set(id, snapshot.state);
    }
    return states;
  }

  async instances(instanceIds: readonly string[]): Promise<InstanceInfo[]> {
    await this.faults.before('instances', instanceIds);
    return instanceIds.flatMap((id) => {
      const instance = this.instanceMap.get(id);
      return instance ? [structuredClone(instance)] : [];
    });
  }

  async snapshotsOfGenerations(generationIds: readonly string[]): Promise<FoundSnapshot[]> {
    await this.faults.before('snapshotsOfGenerations', generationIds);
    return this.allSnapshots()
      .filter((s) => generationIds.includes(s.tags[TAG.generation] ?? '') && s.tags[TAG.managed] === 'true')
      .map(({ snapshotId, volumeId, state, tags, startedAt, ownerId }) => ({
        snapshotId,
        volumeId,
        state,
        generationId: tags[TAG.generation] ?? '',
        startedAt: startedAt ?? this.clock.now().toISOString(),
        ownerId: ownerId ?? FAKE_ACCOUNT,
        ...(tags[TAG.mark] ? { mark: tags[TAG.mark] } : {}),
      }));
  }

  private takeSnapshot(volumeId: string, tags: Tags, description: string): CreatedSnapshot {
    const snapshot: FakeSnapshot = {
      snapshotId: anId('snap'),
      volumeId,
      state: this.startState,
      tags: { ...tags },
      description,
      startedAt: this.clock.now().toISOString(),
      ownerId: FAKE_ACCOUNT,
    };
    this.snapshots.set(snapshot.snapshotId, snapshot);
    return { snapshotId: snapshot.snapshotId, volumeId, state: snapshot.state };
  }
}

/** A FakeEc2 with no resources yet; add them with `.add(anInstance(...), aVolume(...))`. */
export function aFleet(clock?: Clock): FakeEc2 {
  return new FakeEc2(clock);
}

type CreateVolumeRequest = Parameters<VolumeService['createVolume']>[0];

type VolumeRequests = {
  createVolume: CreateVolumeRequest;
  waitUntilAvailable: string;
  availabilityZones: string;
};

/** Volumes created from snapshots; like EC2's ClientToken, the same idempotency token gives the same volume. */
export class FakeVolumes implements VolumeService {
  readonly calls: CreateVolumeRequest[] = [];
  readonly created = new Map<string, CreateVolumeRequest & { volumeId: string }>();
  readonly waited: { region: string; volumeId: string }[] = [];
  readonly faults = new Faults<VolumeRequests>();
  /** Zones per Region; any other Region has `<region>a`, `b` and `c`. */
  zones: Record<string, string[]> = {};

  async createVolume(request: CreateVolumeRequest): Promise<string> {
    await this.faults.before('createVolume', request);
    this.calls.push(structuredClone(request));
    const key = `${request.region}/${request.idempotencyToken}`;
    const existing = this.created.get(key);
    if (existing) return existing.volumeId;
    const volumeId = anId('vol');
    this.created.set(key, { ...structuredClone(request), volumeId });
    return volumeId;
  }

  async waitUntilAvailable(region: string, volumeId: string): Promise<void> {
    await this.faults.before('waitUntilAvailable', volumeId);
    this.waited.push({ region, volumeId });
  }

  /** What `initialization` reports; by default, like moto, nothing. */
  initializationState: VolumeInitialization['state'] = 'not-reported';

  async initialization(_region: string, _volumeId: string, now: Date): Promise<VolumeInitialization> {
    const observedAt = now.toISOString();
    if (this.initializationState === 'initializing') {
      return { state: 'initializing', observedAt, progressPercent: 40 };
    }
    if (this.initializationState === 'initialized') return { state: 'initialized', observedAt };
    return { state: 'not-reported', observedAt, reason: 'the fake reports nothing' };
  }

  async availabilityZones(region: string): Promise<string[]> {
    await this.faults.before('availabilityZones', region);
    return this.zones[region] ?? ['a', 'b', 'c'].map((letter) => `${region}${letter}`);
  }
}

type RawConfig = z.input<typeof ConfigSchema>;
export type RawPolicy = RawConfig['policies'][number];

/** A policy as written in the config file: `daily`, over instances, one `daily` schedule, unless told otherwise. */
export function aPolicy(fields: Partial<RawPolicy> = {}): RawPolicy {
  return {
    name: 'daily',
    targets: 'instances',
    schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }],
    ...fields,
  };
}

/** A validated config with defaults applied, through `parseConfig` like the real one. */
export function aConfig(fields: Partial<RawConfig> = {}): Config {
  return parseConfig({
    region: 'us-east-1',
    catalog: { table: 'snapkeeper-catalog' },
    policies: [aPolicy()],
    ...fields,
  });
}

/** A generation as the catalog would hold it after the run and reconcile; by default one completed snapshot of a volume. */
export function aGeneration(fields: Partial<Generation> & { volumeId?: string } = {}): Generation {
  const { volumeId = anId('vol'), ...rest } = fields;
  const takenAt = rest.takenAt ?? '2026-11-21T03:00:05.000Z';
  const scheduledAt = rest.scheduledAt ?? takenAt;
  const target: Target = rest.target ?? { kind: 'volume', id: volumeId };
  const policy = rest.policy ?? 'daily';
  const schedule = rest.schedule ?? 'daily';
  return {
    id: generationId(policy, schedule, scheduledAt, target),
    policy,
    schedule,
    target,
    scheduledAt,
    takenAt,
    claimedAt: scheduledAt,
    state: 'completed',
    consistency: 'crash',
    snapshots: [
      {
        volumeId,
        snapshotId: anId('snap'),
        region: 'us-east-1',
        state: 'completed',
        consistency: 'crash',
        sizeGiB: 20,
        volumeType: 'gp3',
        iops: 3000,
        throughput: 125,
        encrypted: true,
        volumeTags: { Name: 'data', Team: 'payments' },
      },
    ],
    copies: [],
    ...rest,
  };
}

/** The scheduled time runs default to. */
export const SCHEDULED_AT = '2026-11-21T03:00:00.000Z';

/** Every fake wired together, with the core's entry points bound to them. */
export function aWorld(options: { config?: Config; now?: string } = {}) {
  const clock = new FakeClock(options.now ?? SCHEDULED_AT);
  const log = new CollectingLog();
  const ec2 = aFleet(clock);
  const catalog = new FakeCatalog();
  const volumes = new FakeVolumes();
  const pruner = new FakePruner(ec2);
  const markKey = new FakeMarkKey();
  const config = options.config ?? aConfig();
  const runDeps = { config, inventory: ec2, snapshots: ec2, account: ec2, catalog, clock, log, markKey };
  return {
    /** The ports of a run (and an on-demand backup) over these fakes. */
    runDeps,
    pruner,
    markKey,
    config,
    clock,
    log,
    ec2,
    catalog,
    volumes,
    /** A delivery of the run; `deps` adds ports (a timer, a deadline) or bounds to the fakes. */
    run: (request: Partial<RunRequest> = {}, deps: Partial<RunDeps> = {}) =>
      runSchedule(
        { policy: 'daily', schedule: 'daily', scheduledAt: SCHEDULED_AT, ...request },
        { ...runDeps, ...deps },
      ),
    backup: (request: Partial<OnDemandRequest> = {}) =>
      backUpOnDemand({ policy: 'daily', requestId: 'request-1', ...request }, runDeps),
    restore: async (input: unknown) =>
      restoreVolume(parseRestoreRequest(input), { config, catalog, volumes, clock, log, actor: 'unit-test' }),
    reconcile: () =>
      reconcile({
        config,
        catalog,
        snapshots: ec2,
        inventory: ec2,
        account: ec2,
        pruner,
        clock,
        log,
        markKey,
      }),
  };
}
