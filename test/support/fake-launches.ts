import type { Tags } from '#core/model/ports.ts';
import type {
  ImageFacts,
  InstanceFacts,
  InstanceService,
  LaunchFacts,
  LaunchRequest,
  LaunchService,
  RunbookJournal,
  RunbookRecord,
  SubnetFacts,
  VolumeFacts,
} from '#core/recovery/ports.ts';
import { anId } from './fakes.ts';

/**
 * EC2's instances, images and networks for restore-instance's unit tests: launches keyed by ClientToken as EC2
 * keys them, attachments, terminations. `failOn` makes the named method throw once, to walk every step's rollback.
 */
export class FakeLaunches implements LaunchService, InstanceService {
  readonly images = new Map<string, ImageFacts>();
  readonly subnets = new Map<string, SubnetFacts>();
  readonly groups = new Map<string, string>();
  readonly keyPairs = new Set<string>();
  /** Zone → instance types offered there; a zone missing here offers every type. */
  readonly offerings = new Map<string, string[]>();
  readonly sources = new Map<string, LaunchFacts>();
  readonly launched = new Map<string, { request: LaunchRequest; instanceId: string; state: string }>();
  readonly volumes = new Map<string, VolumeFacts>();
  readonly calls: string[] = [];
  private failing = new Set<string>();

  failOn(method: string): this {
    this.failing.add(method);
    return this;
  }

  private async called(method: string): Promise<void> {
    this.calls.push(method);
    if (this.failing.delete(method))
      throw Object.assign(new Error(`${method} failed`), { name: 'InternalError' });
  }

  async image(_region: string, imageId: string) {
    await this.called('image');
    return this.images.get(imageId);
  }
  async subnet(_region: string, subnetId: string) {
    await this.called('subnet');
    return this.subnets.get(subnetId);
  }
  async securityGroups(_region: string, groupIds: readonly string[]) {
    await this.called('securityGroups');
    return groupIds.flatMap((groupId) => {
      const vpcId = this.groups.get(groupId);
      return vpcId ? [{ groupId, vpcId }] : [];
    });
  }
  async keyPairExists(_region: string, keyName: string) {
    await this.called('keyPairExists');
    return this.keyPairs.has(keyName);
  }
  async instanceTypeOffered(_region: string, instanceType: string, zone: string) {
    await this.called('instanceTypeOffered');
    return this.offerings.get(zone)?.includes(instanceType) ?? true;
  }
  async launchFacts(_region: string, instanceId: string) {
    await this.called('launchFacts');
    return this.sources.get(instanceId);
  }
  async launch(request: LaunchRequest) {
    await this.called('launch');
    const found = this.launched.get(request.clientToken);
    if (found) return found.instanceId;
    const instanceId = anId('i');
    this.launched.set(request.clientToken, {
      request: structuredClone(request),
      instanceId,
      state: 'running',
    });
    return instanceId;
  }
  async launchedBy(_region: string, requestId: string) {
    await this.called('launchedBy');
    return [...this.launched.values()]
      .filter((l) => l.request.tags['snapkeeper:request'] === requestId && l.state !== 'terminated')
      .map((l) => l.instanceId);
  }
  async terminate(_region: string, instanceId: string) {
    await this.called('terminate');
    const found = [...this.launched.values()].find((l) => l.instanceId === instanceId);
    if (found) found.state = 'terminated';
    for (const volume of this.volumes.values()) {
      if (volume.attachment?.instanceId === instanceId) {
        delete volume.attachment;
        volume.state = 'available';
      }
    }
  }
  async waitUntilTerminated() {
    await this.called('waitUntilTerminated');
  }

  /** Launched instances that are not terminated. */
  alive(): string[] {
    return [...this.launched.values()].filter((l) => l.state !== 'terminated').map((l) => l.instanceId);
  }

  // InstanceService: what attaching the restored volumes needs.
  async volume(_region: string, volumeId: string) {
    await this.called('volume');
    return this.volumes.get(volumeId);
  }
  async instance(_region: string, instanceId: string): Promise<InstanceFacts | undefined> {
    const found = [...this.launched.values()].find((l) => l.instanceId === instanceId);
    return found && { instanceId, state: found.state, availabilityZone: '', tags: {}, devices: {} };
  }
  async stop() {}
  async start() {}
  async waitForInstance() {
    await this.called('waitForInstance');
  }
  async attach(_region: string, volumeId: string, instanceId: string, device: string) {
    await this.called('attach');
    const volume = this.volumes.get(volumeId) ?? this.track(volumeId);
    volume.attachment = { instanceId, device, state: 'attached' };
    volume.state = 'in-use';
  }
  async detach() {}
  async waitForVolume() {
    await this.called('waitForVolume');
  }
  async tagVolume(_region: string, _volumeId: string, _tags: Tags) {}
  async deleteVolume(_region: string, volumeId: string) {
    await this.called('deleteVolume');
    this.volumes.delete(volumeId);
  }

  /** A volume the fake volume service created, now visible to describe calls. */
  track(volumeId: string): VolumeFacts {
    const volume = { volumeId, availabilityZone: '', state: 'available', tags: {} };
    this.volumes.set(volumeId, volume);
    return volume;
  }
}

/** The request journal in memory, with the conditional writes the DynamoDB one makes. */
export class FakeJournal implements RunbookJournal {
  readonly records = new Map<string, RunbookRecord>();

  async get(runbook: string, requestId: string) {
    return structuredClone(this.records.get(`${runbook}/${requestId}`));
  }
  async begin(record: RunbookRecord) {
    const key = `${record.runbook}/${record.requestId}`;
    const existing = this.records.get(key);
    if (existing) return { begun: false as const, existing: structuredClone(existing) };
    this.records.set(key, structuredClone(record));
    return { begun: true as const };
  }
  async save(record: RunbookRecord, held: { owner: string; leaseUntil: string }) {
    const key = `${record.runbook}/${record.requestId}`;
    const current = this.records.get(key);
    if (!current || current.owner !== held.owner || current.leaseUntil !== held.leaseUntil) return false;
    this.records.set(key, structuredClone(record));
    return true;
  }
}
