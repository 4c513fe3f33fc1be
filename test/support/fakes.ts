import type { z } from 'zod';
import type {
  Account,
  CreatedSnapshot,
  FoundSnapshot,
  InstanceInfo,
  Inventory,
  SnapshotService,
  VolumeInfo,
} from '#core/backup/ports.ts';
import { type RunRequest, runSchedule } from '#core/backup/run.ts';
import { type Config, type ConfigSchema, parseConfig } from '#core/config/config.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import type { AuditEntry, Catalog, ClaimResult, GenerationQuery } from '#core/model/catalog.ts';
import {
  type CopyRecord,
  type Generation,
  type GenerationField,
  generationId,
  hasOpenWork,
  nextExpiry,
  type SnapshotState,
  type Target,
} from '#core/model/generation.ts';
import type { Clock, Log, Tags } from '#core/model/ports.ts';
import { TAG, userTags } from '#core/model/tags.ts';
import type { VolumeService } from '#core/recovery/ports.ts';
import { restoreVolume } from '#core/recovery/restore.ts';
import { FakePruner } from './fake-pruner.ts';

/**
 * In-memory implementations of the ports in `functions/core/model/ports.ts`, for unit tests of the core. Each keeps
 * the contract of its real adapter (notably `DynamoCatalog`'s conditional writes and pointer listings), copies
 * data in and out so the core cannot lean on shared references, and yields between awaits like real I/O.
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

type CatalogRequests = {
  claim: Generation;
  takeOver: Generation;
  recordOutcome: Generation;
  recordFailure: { generationId: string; failure: string };
  update: Generation;
  updateCopy: { generationId: string; region: string };
  markManifest: { generationId: string; mark: { at: string } | { clearIf: string } };
  get: string;
  audit: AuditEntry;
};

/** The catalog as `DynamoCatalog` keeps it: one record per generation, plus pointers listed newest first. */
export class FakeCatalog implements Catalog {
  private readonly records = new Map<string, Generation>();
  /** pk (`TARGET#…`, `POLICY#…`, `VOLUME#…`) → sort key (`<time>#<id>`) → generation id. */
  private readonly pointers = new Map<string, Map<string, string>>();
  readonly audits: AuditEntry[] = [];
  readonly faults = new Faults<CatalogRequests>();

  /** Writes a generation as the run and reconcile would have, pointers included. */
  seed(...generations: Generation[]): this {
    for (const generation of generations) {
      this.records.set(generation.id, structuredClone(generation));
      this.point(`TARGET#${generation.target.id}`, generation.scheduledAt, generation.id);
      this.point(`POLICY#${generation.policy}`, generation.scheduledAt, generation.id);
      for (const member of generation.target.members ?? []) {
        this.point(`TARGET#${member}`, generation.scheduledAt, generation.id);
      }
      this.point(
        `LINEAGE#${generation.target.id}#${generation.policy}#${generation.schedule}`,
        generation.scheduledAt,
        generation.id,
      );
      this.pointVolumes(generation);
    }
    return this;
  }

  async update(generation: Generation, fields: readonly GenerationField[]): Promise<void> {
    await this.faults.before('update', generation);
    const current = this.required(generation.id, 'update');
    // The adapter's `attribute_not_exists(deletedAt)`: a deleted generation is history.
    if (current.deletedAt)
      throw new Error(`catalog: update: ConditionalCheckFailedException: ${generation.id} is deleted`);
    for (const field of fields) {
      if (field === 'revision') continue;
      const value = structuredClone(generation[field]);
      if (value === undefined) delete (current as unknown as Record<string, unknown>)[field];
      else Object.assign(current, { [field]: value });
    }
    this.bumpRevision(current);
  }

  /** As the adapter's: `change` sees the copy as held now; a deleted primary does not stop it. */
  async updateCopy(
    generationId: string,
    region: string,
    change: (current: CopyRecord | undefined, generation: Generation) => CopyRecord | undefined,
  ): Promise<Generation | undefined> {
    await this.faults.before('updateCopy', { generationId, region });
    const current = this.records.get(generationId);
    if (!current) return undefined;
    const index = current.copies.findIndex((c) => c.region === region);
    const changed = change(structuredClone(current.copies[index]), structuredClone(current));
    if (changed) {
      if (index < 0) current.copies.push(structuredClone(changed));
      else current.copies[index] = structuredClone(changed);
      this.bumpRevision(current);
    }
    return structuredClone(current);
  }

  /** As the adapter's expiry index: by the soonest expiry of the primary or any copy (`nextExpiry`). */
  async expiring(atOrBefore: string, limit = 500): Promise<Generation[]> {
    await Promise.resolve();
    const until = `${atOrBefore}#\uffff`;
    return [...this.records.values()]
      .flatMap((g) => {
        const expiry = nextExpiry(g);
        return expiry ? [{ g, sk: `${expiry}#${g.id}` }] : [];
      })
      .filter(({ sk }) => sk <= until)
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0))
      .slice(0, limit)
      .map(({ g }) => structuredClone(g));
  }

  lineage(
    targetId: string,
    policy: string,
    schedule: string,
    query?: GenerationQuery,
  ): Promise<Generation[]> {
    return this.list(`LINEAGE#${targetId}#${policy}#${schedule}`, query);
  }

  all(): Generation[] {
    return [...this.records.values()].map((g) => structuredClone(g));
  }

  async claim(generation: Generation): Promise<ClaimResult> {
    await this.faults.before('claim', generation);
    const existing = this.records.get(generation.id);
    if (existing) return { claimed: false, existing: structuredClone(existing) };
    // As the adapter: a claim is revision 0 (no `revision`).
    const { revision: _none, ...claimed } = generation;
    this.seed(claimed);
    await this.faults.after('claim', generation);
    return { claimed: true };
  }

  async takeOver(generation: Generation, previousClaimedAt: string): Promise<boolean> {
    await this.faults.before('takeOver', generation);
    const current = this.records.get(generation.id);
    if (!current || current.claimedAt !== previousClaimedAt) return false;
    if (!['pending', 'failed'].includes(current.state) || current.snapshots.length > 0) return false;
    const { failure: _removed, ...rest } = current;
    this.records.set(generation.id, {
      ...rest,
      claimedAt: generation.claimedAt,
      state: 'pending',
      consistency: generation.consistency,
      revision: (current.revision ?? 0) + 1,
    });
    return true;
  }

  async recordOutcome(generation: Generation): Promise<void> {
    await this.faults.before('recordOutcome', generation);
    const current = this.required(generation.id, 'record snapshots');
    // Only these fields, as the adapter's update: set when defined, removed when not.
    const fields = {
      snapshots: structuredClone(generation.snapshots),
      takenAt: generation.takenAt,
      state: generation.state,
      consistency: generation.consistency,
      amiId: generation.amiId,
      freezeWindowMs: generation.freezeWindowMs,
      failure: generation.failure,
      notes: structuredClone(generation.notes),
    };
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) delete (current as unknown as Record<string, unknown>)[key];
      else Object.assign(current, { [key]: value });
    }
    this.bumpRevision(current);
    this.pointVolumes(generation);
  }

  async recordFailure(generationId: string, failure: string): Promise<void> {
    await this.faults.before('recordFailure', { generationId, failure });
    const current = this.required(generationId, 'record failure');
    Object.assign(current, { state: 'failed', failure, consistency: 'failed' });
    this.bumpRevision(current);
  }

  async markManifest(generationId: string, mark: { at: string } | { clearIf: string }): Promise<void> {
    await this.faults.before('markManifest', { generationId, mark });
    const current = this.records.get(generationId);
    if (!current) return;
    if ('clearIf' in mark && current.manifestStaleAt !== mark.clearIf) return;
    if ('at' in mark) current.manifestStaleAt = mark.at;
    else delete current.manifestStaleAt;
    this.bumpRevision(current);
  }

  async get(generationId: string): Promise<Generation | undefined> {
    await this.faults.before('get', generationId);
    const found = this.records.get(generationId);
    return found && structuredClone(found);
  }

  async openGenerations(limit = 500): Promise<Generation[]> {
    await Promise.resolve();
    return [...this.records.values()]
      .filter(hasOpenWork)
      .sort((a, b) => `${a.scheduledAt}#${a.id}`.localeCompare(`${b.scheduledAt}#${b.id}`))
      .slice(0, limit)
      .map((g) => structuredClone(g));
  }

  byTarget(targetId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(`TARGET#${targetId}`, query);
  }

  byVolume(volumeId: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(`VOLUME#${volumeId}`, query);
  }

  byPolicy(policy: string, query?: GenerationQuery): Promise<Generation[]> {
    return this.list(`POLICY#${policy}`, query);
  }

  async audit(entry: AuditEntry): Promise<void> {
    await this.faults.before('audit', entry);
    this.audits.push(structuredClone(entry));
  }

  private async list(pk: string, query: GenerationQuery = {}): Promise<Generation[]> {
    await Promise.resolve();
    // Same bound as the adapter's `sk <= <atOrBefore>#\uffff`: a generation exactly at `atOrBefore` is included.
    const until = query.atOrBefore ? `${query.atOrBefore}#\uffff` : undefined;
    const ids = [...(this.pointers.get(pk) ?? new Map<string, string>()).entries()]
      .filter(([sk]) => until === undefined || sk <= until)
      .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
      .map(([, id]) => id);
    return (query.limit ? ids.slice(0, query.limit) : ids).flatMap((id) => {
      const found = this.records.get(id);
      return found ? [structuredClone(found)] : [];
    });
  }

  private point(pk: string, time: string, id: string): void {
    const partition = this.pointers.get(pk) ?? new Map<string, string>();
    partition.set(`${time}#${id}`, id);
    this.pointers.set(pk, partition);
  }

  private pointVolumes(generation: Generation): void {
    for (const volumeId of new Set(generation.snapshots.map((s) => s.volumeId))) {
      this.point(`VOLUME#${volumeId}`, generation.scheduledAt, generation.id);
    }
  }

  /** Every write bumps the record's revision, as `DynamoCatalog`'s optimistic writes do. */
  private bumpRevision(generation: Generation): void {
    generation.revision = (generation.revision ?? 0) + 1;
  }

  private required(id: string, operation: string): Generation {
    const found = this.records.get(id);
    // The adapter's `attribute_exists(pk)` condition.
    if (!found)
      throw new Error(`catalog: ${operation}: ConditionalCheckFailedException: no generation ${id}`);
    return found;
  }
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
  const config = options.config ?? aConfig();
  return {
    pruner,
    config,
    clock,
    log,
    ec2,
    catalog,
    volumes,
    run: (request: Partial<RunRequest> = {}) =>
      runSchedule(
        { policy: 'daily', schedule: 'daily', scheduledAt: SCHEDULED_AT, ...request },
        { config, inventory: ec2, snapshots: ec2, account: ec2, catalog, clock, log },
      ),
    restore: (input: unknown) =>
      restoreVolume(input, { config, catalog, volumes, clock, log, actor: 'unit-test' }),
    reconcile: () =>
      reconcile({ config, catalog, snapshots: ec2, inventory: ec2, account: ec2, pruner, clock, log }),
  };
}
