import type { Target } from './generation.ts';
import type { Tags } from './ports.ts';

/** Tag keys of the user-facing contract (SPEC §3). */
export const TAG = {
  policy: 'snapkeeper:policy',
  group: 'snapkeeper:group',
  exclude: 'snapkeeper:exclude',
  managed: 'snapkeeper:managed',
  schedule: 'snapkeeper:schedule',
  generation: 'snapkeeper:generation',
  sourceVolume: 'snapkeeper:source-volume',
  sourceInstance: 'snapkeeper:source-instance',
  restoredFrom: 'snapkeeper:restored-from',
  sourceSnapshot: 'snapkeeper:source-snapshot',
  sourceImage: 'snapkeeper:source-image',
  sourceRegion: 'snapkeeper:source-region',
  /** On a volume replace-volume took out of its instance: the volume put in its place. */
  replacedBy: 'snapkeeper:replaced-by',
  /** On an instance restore-instance launched: the request id that launched it, so a lost launch is found. */
  request: 'snapkeeper:request',
  /** The HMAC that proves snapkeeper created the resource (`core/model/mark.ts`). */
  mark: 'snapkeeper:mark',
} as const;

/** AWS allows 50 tags on a resource. */
export const MAX_TAGS = 50;

/** The policy names in a `snapkeeper:policy` value (`daily` or `daily,weekly`). */
export function policiesOf(tags: Tags): string[] {
  const value = tags[TAG.policy];
  if (!value) return [];
  return value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

export function isExcluded(tags: Tags): boolean {
  return tags[TAG.exclude]?.trim().toLowerCase() === 'true';
}

/** A resource's tags minus the ones AWS reserves (`aws:`), which cannot be written by anyone. */
export function userTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !key.startsWith('aws:')));
}

export interface TagContext {
  policy: string;
  schedule: string;
  generationId: string;
  target: Target;
  /** The run's scheduled time, used for `$(timestamp)`, so a replayed run tags as the original would have. */
  scheduledAt: string;
  policyTags: Tags;
  /** The resource's `snapkeeper:mark`, written with snapkeeper's own keys so no other tag can displace it. */
  mark?: string;
}

/** Expands `$(policy)`, `$(schedule)`, `$(instance-id)`, `$(volume-id)` and `$(timestamp)`. */
export function expandVariables(template: string, context: TagContext): string {
  const values: Record<string, string> = {
    policy: context.policy,
    schedule: context.schedule,
    'instance-id': context.target.kind === 'instance' ? context.target.id : '',
    'volume-id': context.target.kind === 'volume' ? context.target.id : '',
    timestamp: context.scheduledAt,
  };
  return template.replace(/\$\(([a-z-]+)\)/g, (whole, name: string) => values[name] ?? whole);
}

/**
 * The tags written at creation on every snapshot of a generation. snapkeeper's own keys win over the policy's
 * tags, which win over the source volume's tags, so nobody can tag a volume into looking like another
 * generation. Volume tags are dropped first when the total would pass AWS's limit of 50.
 */
export function snapshotTags(context: TagContext, volumeTags: Tags = {}): Tags {
  const own: Tags = {
    [TAG.managed]: 'true',
    [TAG.policy]: context.policy,
    [TAG.schedule]: context.schedule,
    [TAG.generation]: context.generationId,
    [context.target.kind === 'instance' ? TAG.sourceInstance : TAG.sourceVolume]: context.target.id,
    ...(context.mark ? { [TAG.mark]: context.mark } : {}),
  };
  const policy = Object.fromEntries(
    Object.entries(context.policyTags).map(([key, value]) => [key, expandVariables(value, context)]),
  );
  const room = MAX_TAGS - Object.keys({ ...policy, ...own }).length;
  const carried = Object.entries(userTags(volumeTags)).filter(([key]) => !(key in own) && !(key in policy));
  return { ...Object.fromEntries(carried.slice(0, Math.max(0, room))), ...policy, ...own };
}
