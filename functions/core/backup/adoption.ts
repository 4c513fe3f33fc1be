import type { Consistency, Generation } from '#core/model/generation.ts';
import { isMarkOf, type MarkFacts, type MarkKey } from '#core/model/mark.ts';
import type { Log } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { type ClaimWindow, claimWindow } from './claim.ts';
import type { Take } from './consistent-take.ts';
import type {
  Account,
  FoundSnapshot,
  GenerationImage,
  ImageService,
  Inventory,
  SnapshotService,
} from './ports.ts';
import type { PlannedTarget } from './selection.ts';
import { fromTake } from './take-record.ts';

/**
 * Adoption: recording snapshots and AMIs that a generation's create calls made but nobody recorded (a run that
 * died, a lost response), found again by their `snapkeeper:generation` tag. The one path for runs and reconcile.
 *
 * Tags are not proof: a principal allowed only to tag can tag a foreign snapshot with a generation's id (ids
 * derive from public fields), and whatever a generation records, retention deletes later. So a candidate is
 * adopted only when EC2's own fields say it is the claim's work: a snapshot of one of the target's volumes
 * (`VolumeId`), started inside the claim's window (`StartTime`), owned by the account (`OwnerId`); an AMI made
 * from one of the target's instances (`SourceInstanceId`), created inside the window, owned by the account. And
 * it must carry the mark a create of this generation wrote (`core/model/mark.ts`): a tagging principal can tag a
 * snapshot of the target's own volume inside the window, but cannot compute the mark. What fails is held: left
 * alone in EC2, never recorded, so never deleted, and named in the generation's notes.
 */

export interface AdoptionDeps {
  snapshots: SnapshotService;
  images?: ImageService;
  account: Account;
  log: Log;
  /** The key adoption recomputes a candidate's mark with. */
  markKey: MarkKey;
}

/** A candidate that carried the generation's tags but failed a check, with why. */
export interface Rejected {
  resourceId: string;
  reason: string;
}

export interface Adoptable {
  /** What passed every check, as a take; undefined when nothing did. */
  take?: Take;
  rejected: Rejected[];
}

/** What a candidate is checked against. */
export interface AdoptionScope {
  generationId: string;
  targetId: string;
  volumeIds: ReadonlySet<string>;
  instanceIds: ReadonlySet<string>;
  /** The member instance each volume is attached to, for the marks of `CreateSnapshots` and `CreateImage`. */
  instanceOfVolume: ReadonlyMap<string, string>;
  window: ClaimWindow;
  accountId: string;
  /** The mark key's bytes. */
  secret: Uint8Array;
}

/**
 * The scope of a generation's claim over a planned target: its volumes and instances, its window, our account, and
 * the mark key (a scope without it cannot be built, so nothing is adopted without the mark check).
 */
export async function scopeOf(
  generation: Generation,
  planned: PlannedTarget,
  deps: Pick<AdoptionDeps, 'account' | 'markKey'>,
): Promise<AdoptionScope> {
  const members = planned.members ?? [planned];
  const [accountId, secret] = await Promise.all([deps.account.accountId(), deps.markKey.secret()]);
  return {
    generationId: generation.id,
    targetId: generation.target.id,
    volumeIds: new Set(members.flatMap(volumeIdsOf)),
    instanceIds: new Set(members.flatMap((m) => (m.instance ? [m.instance.instanceId] : []))),
    instanceOfVolume: new Map(
      members.flatMap((m) => {
        const instanceId = m.instance?.instanceId;
        return instanceId ? volumeIdsOf(m).map((v): [string, string] => [v, instanceId]) : [];
      }),
    ),
    window: claimWindow(generation.claimedAt),
    accountId,
    secret,
  };
}

/**
 * Finds what the generation's creates left unrecorded and keeps what passes the checks. `ami` looks for AMIs too.
 * `consistency` is what the adopted volumes are known to be (crash unless the run recorded more).
 */
export async function findAdoptable(
  generation: Generation,
  planned: PlannedTarget,
  options: { ami: boolean; consistency?: Consistency },
  deps: AdoptionDeps,
): Promise<Adoptable> {
  const images = deps.images;
  const [found, tagged, recordedImage] = await Promise.all([
    deps.snapshots.snapshotsOfGenerations([generation.id]),
    options.ami && images && !generation.amiId ? images.imagesOfGeneration(generation.id) : [],
    // The AMI a run recorded came from its own CreateImage response, not from tags: it needs no check.
    generation.amiId && images ? images.imageSnapshots(generation.amiId) : undefined,
  ]);
  const recorded = new Set(generation.snapshots.map((s) => s.snapshotId));
  const unrecorded = found.filter((s) => !recorded.has(s.snapshotId));
  if (unrecorded.length === 0 && tagged.length === 0 && !recordedImage) return { rejected: [] };
  const scope = await scopeOf(generation, planned, deps);
  const screenedImages = screenImages(tagged, scope);
  if (generation.amiId && recordedImage) {
    const instanceId = generation.target.kind === 'instance' ? generation.target.id : undefined;
    screenedImages.accepted.push({
      imageId: generation.amiId,
      ...(instanceId ? { instanceId } : {}),
      ownerId: scope.accountId,
      createdAt: generation.claimedAt,
      snapshots: recordedImage,
    });
  }
  // An accepted AMI's own snapshots come from EC2's block device mapping of it, never from tags.
  const imaged = new Set(screenedImages.accepted.flatMap((i) => i.snapshots.map((s) => s.snapshotId)));
  const screened = screenSnapshots(
    unrecorded.filter((s) => !imaged.has(s.snapshotId)),
    scope,
  );
  const rejected = [...screenedImages.rejected, ...screened.rejected];
  logRejected(generation.id, rejected, deps.log);
  if (screened.accepted.length === 0 && screenedImages.accepted.length === 0) return { rejected };
  const take = adoptedTake(
    planned,
    screened.accepted,
    screenedImages.accepted,
    generation.claimedAt,
    options.consistency,
  );
  return { take, rejected };
}

/** A screen's verdict: what passed every check, and what only carried the generation's tags, with why. */
export interface Screened<T> {
  accepted: T[];
  rejected: Rejected[];
}

/** Splits found snapshots into those of the scope and those that only carry its tags. */
export function screenSnapshots(
  found: readonly FoundSnapshot[],
  scope: AdoptionScope,
): Screened<FoundSnapshot> {
  return screen(
    found,
    (s) => s.snapshotId,
    (s) =>
      ownerProblem(s.ownerId, scope) ??
      (scope.volumeIds.has(s.volumeId)
        ? undefined
        : `a snapshot of ${s.volumeId || 'an unknown volume'}, which is not a volume of ${scope.targetId}`) ??
      timeProblem('started', s.startedAt, scope) ??
      markProblem(s.mark, snapshotMarkFacts(s.volumeId, scope), scope),
  );
}

/** Splits found AMIs into those made from the scope's instances in its window and the others. */
export function screenImages(
  found: readonly GenerationImage[],
  scope: AdoptionScope,
): Screened<GenerationImage> {
  const screened = screen(
    found,
    (i) => i.imageId,
    (i) =>
      ownerProblem(i.ownerId, scope) ??
      (i.sourceInstanceId && scope.instanceIds.has(i.sourceInstanceId)
        ? undefined
        : `an AMI made from ${i.sourceInstanceId ?? 'an instance EC2 does not name'}, not from an instance of ${scope.targetId}`) ??
      timeProblem('created', i.createdAt, scope) ??
      markProblem(
        i.mark,
        [{ kind: 'image', generationId: scope.generationId, instanceId: i.sourceInstanceId ?? '' }],
        scope,
      ),
  );
  // Matched by EC2's source instance, so the member an AMI belongs to is the instance EC2 names, not its tag's.
  return { ...screened, accepted: screened.accepted.map((i) => ({ ...i, instanceId: i.sourceInstanceId })) };
}

function screen<T>(
  found: readonly T[],
  idOf: (item: T) => string,
  problemOf: (item: T) => string | undefined,
): Screened<T> {
  const accepted: T[] = [];
  const rejected: Rejected[] = [];
  for (const item of found) {
    const reason = problemOf(item);
    if (reason) rejected.push({ resourceId: idOf(item), reason });
    else accepted.push(item);
  }
  return { accepted, rejected };
}

/** The notes a generation keeps about candidates it did not adopt. */
export function rejectionNotes(rejected: readonly Rejected[]): string[] {
  return rejected.map(
    (r) =>
      `not adopted: ${r.resourceId} carries this generation's tags but is ${r.reason} (tags can be forged)`,
  );
}

/**
 * The generation with an adopted take recorded: what `fromTake` makes of it, with the note that says how it came
 * to be and the candidates that were turned away.
 */
export function adoptedGeneration(
  generation: Generation,
  adoptable: Adoptable & { take: Take },
  region: string,
  note?: string,
): Generation {
  const notes = [...(generation.notes ?? []), ...(note ? [note] : []), ...rejectionNotes(adoptable.rejected)];
  return { ...fromTake(generation, adoptable.take, region), ...(notes.length > 0 ? { notes } : {}) };
}

/**
 * The target of a generation as it stands now, for adoption outside a run (reconcile): its volumes, or its
 * instances with their attached volumes. Volumes and instances that no longer exist are absent, so nothing of
 * theirs can be adopted: without them there is no way to tell their snapshots from forged ones.
 */
export async function plannedFor(generation: Generation, inventory: Inventory): Promise<PlannedTarget> {
  const { target } = generation;
  if (target.kind === 'volume') {
    return { target, volumes: await inventory.volumes([target.id]), excluded: [] };
  }
  const instances = await inventory.instances(target.kind === 'group' ? (target.members ?? []) : [target.id]);
  const volumes = await inventory.volumes(instances.flatMap((i) => i.volumes.map((v) => v.volumeId)));
  const members: PlannedTarget[] = instances.map((instance) => ({
    target: { kind: 'instance', id: instance.instanceId },
    instance,
    volumes: volumes.filter((v) => instance.volumes.some((a) => a.volumeId === v.volumeId)),
    excluded: [],
  }));
  if (target.kind === 'group') return { target, volumes, excluded: [], members };
  return members[0] ?? { target, volumes: [], excluded: [] };
}

/**
 * What an interrupted run left behind, as a take: each member's snapshots (by the volumes EC2 says they are of)
 * and AMI (by the instance EC2 says it imaged). No freeze is known to have covered it unless `consistency` says
 * what the run recorded.
 */
export function adoptedTake(
  planned: PlannedTarget,
  snapshots: readonly FoundSnapshot[],
  images: readonly GenerationImage[],
  takenAt: string,
  consistency?: Consistency,
): Take {
  const members = planned.members ?? [planned];
  return {
    takenAt,
    thawProblems: [],
    members: members.map((m) => {
      const volumeIds = new Set(volumeIdsOf(m));
      // The AMI a run recorded names no instance; it is the lone member's.
      const image =
        images.find((i) => i.instanceId === m.instance?.instanceId) ??
        (members.length === 1 ? images.find((i) => i.instanceId === undefined) : undefined);
      return {
        planned: m,
        created: {
          snapshots: snapshots
            .filter((s) => volumeIds.has(s.volumeId))
            .map(({ snapshotId, volumeId, state }) => ({ snapshotId, volumeId, state })),
          ...(image ? { amiId: image.imageId, imageSnapshots: image.snapshots } : {}),
        },
        consistency: new Map([...volumeIds].map((v) => [v, consistency ?? 'crash'])),
      };
    }),
  };
}

/** Every volume of a member: those planned and those attached to its instance. */
function volumeIdsOf(member: PlannedTarget): string[] {
  return [
    ...member.volumes.map((v) => v.volumeId),
    ...(member.instance?.volumes ?? []).map((v) => v.volumeId),
  ];
}

function ownerProblem(ownerId: string, scope: AdoptionScope): string | undefined {
  return ownerId === scope.accountId
    ? undefined
    : `owned by account ${ownerId || 'unknown'}, not this account (${scope.accountId})`;
}

function timeProblem(verb: string, at: string, scope: AdoptionScope): string | undefined {
  const time = Date.parse(at);
  if (time >= scope.window.from && time <= scope.window.to) return undefined;
  const window = `${new Date(scope.window.from).toISOString()} to ${new Date(scope.window.to).toISOString()}`;
  return `${verb} ${at || 'at an unknown time'}, outside the claim's window (${window})`;
}

/**
 * The marks a create of the generation may have written on a snapshot of `volumeId`: `CreateSnapshot` of the
 * volume, or `CreateSnapshots` / `CreateImage` of the member instance it is attached to.
 */
/** Which create of the scope's generation a found snapshot's mark proves made it; undefined when none does. */
export function snapshotMarkedAs(
  snapshot: FoundSnapshot,
  scope: AdoptionScope,
): MarkFacts['kind'] | undefined {
  return snapshotMarkFacts(snapshot.volumeId, scope).find((f) => isMarkOf(scope.secret, f, snapshot.mark))
    ?.kind;
}

function snapshotMarkFacts(volumeId: string, scope: AdoptionScope): MarkFacts[] {
  const { generationId } = scope;
  const instanceId = scope.instanceOfVolume.get(volumeId);
  return [
    { kind: 'volume', generationId, volumeId },
    ...(instanceId
      ? [
          { kind: 'instance' as const, generationId, instanceId },
          { kind: 'image' as const, generationId, instanceId },
        ]
      : []),
  ];
}

function markProblem(
  mark: string | undefined,
  facts: readonly MarkFacts[],
  scope: AdoptionScope,
): string | undefined {
  if (facts.some((f) => isMarkOf(scope.secret, f, mark))) return undefined;
  return mark === undefined
    ? `without a ${TAG.mark} tag: not created by snapkeeper`
    : `marked, but not by a create of ${scope.generationId}: not created by snapkeeper for it, or re-tagged`;
}

function logRejected(generationId: string, rejected: readonly Rejected[], log: Log): void {
  for (const { resourceId, reason } of rejected) {
    log.warn('adoption candidate rejected', { generationId, resourceId, reason });
  }
}
