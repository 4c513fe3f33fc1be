import type { InstanceInfo, VolumeInfo } from '#core/backup/ports.ts';
import type { Config } from '#core/config/config.ts';
import { mapLimit } from '#core/model/concurrency.ts';
import { isExcluded, policiesOf } from '#core/model/tags.ts';
import type { ReportDeps } from './ports.ts';

/**
 * Which resources of the Region nothing protects, and which `snapkeeper:policy` values name no policy: the two
 * sections a backup report in the style of DLM's default policies adds to the per-target rows.
 */

export interface Unprotected {
  kind: 'instance' | 'volume';
  id: string;
  /** Its `Name` tag, when it has one. */
  name?: string;
  /** Why nothing protects it, in words. */
  reason: string;
}

/** A resource whose `snapkeeper:policy` tag names a policy the config does not have. */
export interface UnknownPolicyName {
  resourceId: string;
  kind: 'instance' | 'volume';
  /** The name the tag gives. */
  policy: string;
  problem: string;
}

const GONE_INSTANCE_STATES = new Set(['terminated', 'shutting-down']);

/** The config's policy names among a resource's tag values. */
function knownPolicies(config: Config, tags: Record<string, string>, kind: 'instances' | 'volumes') {
  return policiesOf(tags).filter((name) =>
    config.policies.some((p) => p.name === name && p.targets === kind),
  );
}

/** Every tag value that names no policy, one entry per resource and name. */
export function unknownPolicyNames(
  config: Config,
  fleet: { instances: InstanceInfo[]; volumes: VolumeInfo[] },
): UnknownPolicyName[] {
  const names = config.policies.map((p) => p.name);
  const entries = [
    ...fleet.instances.map((r) => ({ id: r.instanceId, kind: 'instance' as const, tags: r.tags })),
    ...fleet.volumes.map((r) => ({ id: r.volumeId, kind: 'volume' as const, tags: r.tags })),
  ];
  return entries.flatMap(({ id, kind, tags }) =>
    policiesOf(tags)
      .filter((name) => !names.includes(name))
      .map((policy) => ({
        resourceId: id,
        kind,
        policy,
        problem: `snapkeeper:policy names "${policy}", which is no policy (policies: ${names.join(', ')}); fix the tag, or add the policy to the config`,
      })),
  );
}

/**
 * Instances and volumes that no policy's tag selects and that have no generation: a volume counts as protected
 * through its instance when the instance is tagged for an instance policy (unless the volume is excluded), and an
 * instance through its volumes when every one is tagged for a volume policy.
 */
export async function unprotectedResources(
  deps: Pick<ReportDeps, 'config' | 'catalog'>,
  fleet: { instances: InstanceInfo[]; volumes: VolumeInfo[] },
): Promise<Unprotected[]> {
  const { config, catalog } = deps;
  const instances = fleet.instances.filter((i) => !GONE_INSTANCE_STATES.has(i.state));
  const volumes = fleet.volumes.filter((v) => v.state !== 'deleting' && v.state !== 'deleted');
  const volumeTagged = new Set(
    volumes.filter((v) => knownPolicies(config, v.tags, 'volumes').length > 0).map((v) => v.volumeId),
  );
  const excluded = new Set(volumes.filter((v) => isExcluded(v.tags)).map((v) => v.volumeId));
  const throughInstance = new Set(
    instances
      .filter((i) => knownPolicies(config, i.tags, 'instances').length > 0)
      .flatMap((i) => i.volumes.map((v) => v.volumeId))
      .filter((id) => !excluded.has(id)),
  );
  const candidates = [
    ...instances
      .filter((i) => knownPolicies(config, i.tags, 'instances').length === 0)
      .filter((i) => i.volumes.length === 0 || !i.volumes.every((v) => volumeTagged.has(v.volumeId)))
      .map((i) => ({ kind: 'instance' as const, id: i.instanceId, tags: i.tags })),
    ...volumes
      .filter((v) => !volumeTagged.has(v.volumeId) && !throughInstance.has(v.volumeId))
      .map((v) => ({ kind: 'volume' as const, id: v.volumeId, tags: v.tags })),
  ];
  // One catalog look-up each, a few at a time: a Region can hold thousands of untagged resources.
  const taken = await mapLimit(
    candidates,
    8,
    async (c) =>
      (c.kind === 'instance'
        ? await catalog.byTarget(c.id, { limit: 1 })
        : await catalog.byVolume(c.id, { limit: 1 })
      ).length > 0,
  );
  return candidates.filter((_, i) => !taken[i]).map((c) => entry(c.kind, c.id, c.tags));
}

function entry(kind: 'instance' | 'volume', id: string, tags: Record<string, string>): Unprotected {
  const names = policiesOf(tags);
  const reason = isExcluded(tags)
    ? 'snapkeeper:exclude=true and no generation'
    : names.length > 0
      ? `snapkeeper:policy=${names.join(',')} names no ${kind} policy, and no generation`
      : 'no snapkeeper:policy tag and no generation';
  return { kind, id, ...(tags.Name ? { name: tags.Name } : {}), reason };
}
