import { mapLimit } from './concurrency.ts';
import { type Config, findSchedule } from './config.ts';
import { describeError } from './errors.ts';
import { type Generation, generationId, type SnapshotRecord, stateFromSnapshots } from './generation.ts';
import type { Catalog, Clock, CreatedSnapshot, Inventory, Log, SnapshotService, Tags } from './ports.ts';
import { type PlannedTarget, type Problem, selectTargets } from './selection.ts';
import { snapshotTags, userTags } from './tags.ts';

/** One firing of one schedule of one policy (SPEC §2 "Run"). */
export interface RunRequest {
  policy: string;
  schedule: string;
  /** ISO-8601; the identity of the run, so a redelivery is recognised. */
  scheduledAt: string;
}

export interface RunDeps {
  config: Config;
  inventory: Inventory;
  snapshots: SnapshotService;
  catalog: Catalog;
  clock: Clock;
  log: Log;
  /** Targets worked on at once inside this invocation. */
  concurrency?: number;
}

export type TargetOutcome =
  /** This delivery made the generation. */
  | 'created'
  /** An earlier delivery of the same run already made it. */
  | 'existing'
  /** An earlier delivery crashed after creating snapshots; this one recorded them. */
  | 'adopted'
  /** Another delivery of the same run holds the claim right now. */
  | 'in-progress'
  | 'failed';

export interface TargetResult {
  generationId: string;
  targetId: string;
  outcome: TargetOutcome;
  state: Generation['state'];
  snapshotIds: string[];
  failure?: string;
}

export interface RunReport extends RunRequest {
  results: TargetResult[];
  problems: Problem[];
}

/**
 * A claim older than this is presumed dead: no Lambda runs longer than 15 minutes, so its holder is gone and
 * another delivery may finish its work.
 */
export const CLAIM_LEASE_MS = 15 * 60 * 1000;

/** Runs one schedule of one policy: select, claim, snapshot, record. Idempotent per (policy, schedule, scheduledAt). */
export async function runSchedule(request: RunRequest, deps: RunDeps): Promise<RunReport> {
  const { policy } = findSchedule(deps.config, request.policy, request.schedule);
  if (policy.consistency.mode !== 'crash') {
    // Said out loud rather than implied: every generation of this build records `crash`, which is the truth.
    deps.log.warn('consistency mode not supported yet; taking crash-consistent generations', {
      policy: policy.name,
      mode: policy.consistency.mode,
    });
  }
  const selection = await selectTargets(policy, deps.inventory);
  deps.log.info('run started', {
    ...request,
    targets: selection.targets.length,
    problems: selection.problems.length,
  });
  for (const problem of selection.problems) deps.log.warn('tag problem', { ...problem });

  const results = await mapLimit(selection.targets, deps.concurrency ?? 8, (planned) =>
    backUpTarget(request, planned, policy.tags, deps),
  );
  const failed = results.filter((r) => r.outcome === 'failed').length;
  deps.log.info('run finished', { ...request, results: results.length, failed });
  return { ...request, results, problems: selection.problems };
}

async function backUpTarget(
  request: RunRequest,
  planned: PlannedTarget,
  policyTags: Tags,
  deps: RunDeps,
): Promise<TargetResult> {
  const id = generationId(request.policy, request.schedule, request.scheduledAt, planned.target);
  const generation: Generation = {
    id,
    policy: request.policy,
    schedule: request.schedule,
    target: planned.target,
    scheduledAt: request.scheduledAt,
    claimedAt: deps.clock.now().toISOString(),
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  };
  const result = (outcome: TargetOutcome, g: Generation): TargetResult => ({
    generationId: id,
    targetId: planned.target.id,
    outcome,
    state: g.state,
    snapshotIds: g.snapshots.map((s) => s.snapshotId),
    ...(g.failure ? { failure: g.failure } : {}),
  });

  const claim = await deps.catalog.claim(generation);
  if (!claim.claimed) {
    const resumed = await resumeExisting(claim.existing, generation, planned, deps);
    if (resumed.outcome !== 'retake') return result(resumed.outcome, resumed.generation);
  }

  // An EBS snapshot holds the data as of the create call, so that instant is the generation's point in time.
  const takenAt = deps.clock.now().toISOString();
  let created: CreatedSnapshot[];
  try {
    created = await createSnapshots(generation, planned, policyTags, deps);
  } catch (error) {
    // The claim stays in the catalog as a failed generation with its reason: nothing is lost or hidden.
    const failure = describeError(error);
    deps.log.error('generation failed', { generationId: id, targetId: planned.target.id, failure });
    await deps.catalog.recordFailure(id, failure);
    return result('failed', { ...generation, state: 'failed', failure });
  }
  const recorded = withSnapshots(generation, created, planned, deps.config.region, takenAt);
  const snapshotIds = recorded.snapshots.map((s) => s.snapshotId);
  try {
    await deps.catalog.recordOutcome(recorded);
  } catch (error) {
    // The snapshots exist and carry the generation id, so a redelivery of the run finds and adopts them.
    const failure = `snapshots ${snapshotIds.join(', ')} were created but not recorded (${describeError(error)}); a retry of the run records them`;
    deps.log.error('generation not recorded', { generationId: id, targetId: planned.target.id, failure });
    return result('failed', { ...recorded, state: 'failed', failure });
  }
  deps.log.info('generation recorded', {
    generationId: id,
    targetId: planned.target.id,
    state: recorded.state,
    snapshotIds,
  });
  return result('created', recorded);
}

type Resumption =
  | { outcome: 'existing' | 'adopted' | 'in-progress'; generation: Generation }
  | { outcome: 'retake' };

/** A redelivered run meets the generation an earlier delivery claimed. */
async function resumeExisting(
  existing: Generation,
  fresh: Generation,
  planned: PlannedTarget,
  deps: RunDeps,
): Promise<Resumption> {
  if (existing.snapshots.length > 0 || existing.state === 'completed') {
    return { outcome: 'existing', generation: existing };
  }
  // Claimed but never recorded: the earlier delivery is still working, died between create and record, or
  // failed. Snapshots are tagged with the generation id at creation, so work already done is found and adopted
  // rather than taken twice.
  const orphans = await deps.snapshots.snapshotsOfGeneration(existing.id);
  if (orphans.length > 0) {
    // The create call happened shortly after the claim; the claim time is the closest record of it.
    const adopted = withSnapshots(existing, orphans, planned, deps.config.region, existing.claimedAt);
    await deps.catalog.recordOutcome(adopted);
    deps.log.warn('adopted snapshots of an interrupted run', {
      generationId: existing.id,
      count: orphans.length,
    });
    return { outcome: 'adopted', generation: adopted };
  }
  if (existing.state === 'failed') {
    // A failed generation holds no snapshot, so a redelivery (the Lambda's own retry) tries the target again.
    return (await deps.catalog.takeOver(fresh, existing.claimedAt))
      ? { outcome: 'retake' }
      : { outcome: 'in-progress', generation: existing };
  }
  const age = deps.clock.now().getTime() - Date.parse(existing.claimedAt);
  if (age < CLAIM_LEASE_MS || !(await deps.catalog.takeOver(fresh, existing.claimedAt))) {
    return { outcome: 'in-progress', generation: existing };
  }
  deps.log.warn('took over a stale claim', { generationId: existing.id, claimedAt: existing.claimedAt });
  return { outcome: 'retake' };
}

async function createSnapshots(
  generation: Generation,
  planned: PlannedTarget,
  policyTags: Tags,
  deps: RunDeps,
): Promise<CreatedSnapshot[]> {
  const context = { ...generation, generationId: generation.id, policyTags };
  const description = `snapkeeper ${generation.policy}/${generation.schedule} ${generation.id}`;
  if (planned.target.kind === 'volume') {
    const volume = planned.volumes[0];
    if (!volume) throw new Error('a volume target has no volume');
    return [
      await deps.snapshots.snapshotVolume({
        volumeId: volume.volumeId,
        tags: snapshotTags(context, volume.tags),
        description,
      }),
    ];
  }
  const tags = snapshotTags(context);
  return deps.snapshots.snapshotInstance({
    instanceId: planned.target.id,
    excludeBootVolume: planned.excluded.some((e) => e.reason === 'boot-volume'),
    excludeVolumeIds: planned.excluded.filter((e) => e.reason === 'exclude-tag').map((e) => e.volumeId),
    tags,
    // One CreateSnapshots call gives every snapshot the same tags; AWS copies each volume's own tags onto its
    // snapshot only when asked. Ask unless a volume tag would collide with one of ours.
    copyVolumeTags: planned.volumes.every((v) =>
      Object.keys(userTags(v.tags)).every((key) => !(key in tags)),
    ),
    description,
  });
}

function withSnapshots(
  generation: Generation,
  created: readonly CreatedSnapshot[],
  planned: PlannedTarget,
  region: string,
  takenAt: string,
): Generation {
  const volumes = new Map(planned.volumes.map((v) => [v.volumeId, v]));
  const devices = new Map(planned.instance?.volumes.map((v) => [v.volumeId, v.deviceName]));
  const snapshots: SnapshotRecord[] = created.map((snapshot) => {
    const volume = volumes.get(snapshot.volumeId);
    return {
      volumeId: snapshot.volumeId,
      snapshotId: snapshot.snapshotId,
      region,
      state: snapshot.state,
      consistency: 'crash',
      deviceName: devices.get(snapshot.volumeId),
      sizeGiB: volume?.sizeGiB,
      volumeType: volume?.volumeType,
      iops: volume?.iops,
      throughput: volume?.throughput,
      encrypted: volume?.encrypted,
      volumeTags: userTags(volume?.tags ?? {}),
    };
  });
  // A generation adopted after an earlier delivery recorded a failure is what its snapshots say it is now.
  const { failure: _superseded, ...rest } = generation;
  return { ...rest, takenAt, snapshots, consistency: 'crash', state: stateFromSnapshots(snapshots) };
}
