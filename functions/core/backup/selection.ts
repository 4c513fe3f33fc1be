import type { Policy } from '#core/config/config.ts';
import type { Target } from '#core/model/generation.ts';
import { isExcluded, policiesOf, TAG } from '#core/model/tags.ts';
import type { InstanceInfo, Inventory, VolumeInfo } from './ports.ts';

/** One target a run will snapshot, with the volumes that go into its set. */
export interface PlannedTarget {
  target: Target;
  instance?: InstanceInfo;
  volumes: VolumeInfo[];
  excluded: { volumeId: string; reason: 'exclude-tag' | 'boot-volume' | 'multi-attach' }[];
  /** For a consistency group: one planned instance per member, frozen and snapshotted together. */
  members?: PlannedTarget[];
}

/** Something about the tagging an operator should fix; reported, never ignored (SPEC §1). */
export interface Problem {
  resourceId: string;
  problem: string;
}

export interface Selection {
  targets: PlannedTarget[];
  problems: Problem[];
}

const SNAPSHOTTABLE_INSTANCE_STATES = new Set(['running', 'stopped', 'stopping']);
const SNAPSHOTTABLE_VOLUME_STATES = new Set(['in-use', 'available']);

/** What a policy's run snapshots, from the resources tagged for it now. */
export async function selectTargets(policy: Policy, inventory: Inventory): Promise<Selection> {
  return policy.targets === 'instances'
    ? selectInstances(policy, inventory)
    : selectVolumes(policy, inventory);
}

async function selectInstances(policy: Policy, inventory: Inventory): Promise<Selection> {
  const problems: Problem[] = [];
  const instances = (await inventory.instancesTaggedFor(policy.name)).filter((instance) =>
    policiesOf(instance.tags).includes(policy.name),
  );
  const live = instances.filter((instance) => {
    if (SNAPSHOTTABLE_INSTANCE_STATES.has(instance.state)) return true;
    problems.push({
      resourceId: instance.instanceId,
      problem: `instance is ${instance.state}; not snapshotted`,
    });
    return false;
  });
  const volumes = new Map(
    (await inventory.volumes(live.flatMap((i) => i.volumes.map((v) => v.volumeId)))).map((v) => [
      v.volumeId,
      v,
    ]),
  );
  const targets: PlannedTarget[] = [];
  // A multi-attached volume is snapshotted once per run, through the first of its tagged instances by id.
  const owners = new Map<string, string>();
  for (const instance of live) {
    for (const { volumeId } of instance.volumes) {
      const owner = owners.get(volumeId);
      if (!owner || instance.instanceId < owner) owners.set(volumeId, instance.instanceId);
    }
  }
  for (const instance of live) {
    const planned: PlannedTarget = {
      target: { kind: 'instance', id: instance.instanceId },
      instance,
      volumes: [],
      excluded: [],
    };
    for (const attached of instance.volumes) {
      const volume = volumes.get(attached.volumeId);
      if (!volume) continue; // detached between the two describes; the set is what is attached now
      const owner = owners.get(volume.volumeId) ?? instance.instanceId;
      if (owner !== instance.instanceId) {
        planned.excluded.push({ volumeId: volume.volumeId, reason: 'multi-attach' });
        problems.push({
          resourceId: volume.volumeId,
          problem: `multi-attached to ${owner} and ${instance.instanceId}; snapshotted once, with ${owner}`,
        });
      } else if (isExcluded(volume.tags)) {
        planned.excluded.push({ volumeId: volume.volumeId, reason: 'exclude-tag' });
      } else if (policy.excludeBootVolume && attached.deviceName === instance.rootDeviceName) {
        planned.excluded.push({ volumeId: volume.volumeId, reason: 'boot-volume' });
      } else {
        planned.volumes.push(volume);
      }
    }
    if (planned.volumes.length === 0) {
      problems.push({
        resourceId: instance.instanceId,
        problem: 'every attached volume is excluded; nothing to snapshot',
      });
      continue;
    }
    targets.push(planned);
  }
  return { targets: grouped(targets), problems };
}

/**
 * Instances sharing `snapkeeper:group` (and, by being selected here, the policy) become one group target whose
 * members are frozen and snapshotted together (SPEC §2). Ungrouped instances stay targets of their own.
 */
function grouped(targets: PlannedTarget[]): PlannedTarget[] {
  const groups = new Map<string, PlannedTarget[]>();
  const result: PlannedTarget[] = [];
  for (const planned of targets) {
    const name = planned.instance?.tags[TAG.group]?.trim();
    if (!name) {
      result.push(planned);
      continue;
    }
    const members = groups.get(name) ?? [];
    if (members.length === 0) groups.set(name, members);
    members.push(planned);
  }
  for (const [name, members] of groups) {
    result.push({
      target: { kind: 'group', id: `group:${name}`, members: members.map((m) => m.target.id) },
      volumes: members.flatMap((m) => m.volumes),
      excluded: members.flatMap((m) => m.excluded),
      members,
    });
  }
  return result;
}

async function selectVolumes(policy: Policy, inventory: Inventory): Promise<Selection> {
  const problems: Problem[] = [];
  const targets: PlannedTarget[] = [];
  for (const volume of await inventory.volumesTaggedFor(policy.name)) {
    if (!policiesOf(volume.tags).includes(policy.name)) continue;
    if (!SNAPSHOTTABLE_VOLUME_STATES.has(volume.state)) {
      problems.push({ resourceId: volume.volumeId, problem: `volume is ${volume.state}; not snapshotted` });
      continue;
    }
    targets.push({ target: { kind: 'volume', id: volume.volumeId }, volumes: [volume], excluded: [] });
  }
  return { targets, problems };
}
