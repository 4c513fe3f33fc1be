import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { AuditTrail, CatalogReader } from '#core/model/catalog.ts';
import { describeError, RunbookFailedError, RunbookInProgressError } from '#core/model/errors.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { TAG } from '#core/model/tags.ts';
import { newRecord, recordKeeper, requestIdField, seenBefore } from './journal.ts';
import type { InstanceService, RunbookJournal, RunbookRecord, VolumeService } from './ports.ts';
import { auditRunbook, parseRequest, refuse } from './request.ts';
import { availability, createRestoredVolume, DEFAULT_WAIT_MS, type RestoreTimes } from './restore.ts';
import { findSource, generationIdField, isoTime, volumeIdField } from './source.ts';
import { volumeShape } from './volume-options.ts';

export const REPLACE_VOLUME = 'replace-volume';

/** The fields of the replace-volume runbook's request. */
export const replaceVolumeFields = {
  /** The attached volume to replace with a restore of it. */
  volumeId: volumeIdField,
  /** Restore its newest completed generation at or before this time (ISO-8601); default now. */
  at: isoTime.optional(),
  /** Restore this generation of the volume instead. */
  generationId: generationIdField.optional(),
  /** Check everything and say what would happen; change nothing. */
  dryRun: z.boolean().default(false),
  /** The same request id twice does the work once (the Lambda passes its request id, Automation its execution id). */
  requestId: requestIdField.optional(),
};

export const ReplaceVolumeRequestSchema = z
  .strictObject(replaceVolumeFields)
  .refine((r) => !(r.at && r.generationId), { message: 'give {at} or {generationId}, not both' });

export type ReplaceVolumeRequest = z.output<typeof ReplaceVolumeRequestSchema>;

export function parseReplaceRequest(input: unknown): ReplaceVolumeRequest {
  return parseRequest(REPLACE_VOLUME, ReplaceVolumeRequestSchema, input);
}

/** The instance as it was before anything was done, and what goes in: the state every rollback returns to. */
export interface ReplacePlan {
  region: string;
  instanceId: string;
  /** `running` instances are stopped for the swap and started again; `stopped` ones stay stopped. */
  instanceState: 'running' | 'stopped';
  device: string;
  oldVolumeId: string;
  availabilityZone: string;
  generationId: string;
  sourceSnapshotId: string;
}

/** A step of the swap, in the order they run. */
export type ReplaceStep =
  | 'create-volume'
  | 'stop-instance'
  | 'detach-old'
  | 'attach-new'
  | 'start-instance'
  | 'tag-old';

export interface ReplaceVolumeResult extends ReplacePlan, RestoreTimes {
  requestId: string;
  newVolumeId: string | null;
  dryRun: boolean;
  /** The steps it ran (or, on a dry run, would run). */
  steps: ReplaceStep[];
  /** True when this request id had already been carried out: nothing was done again. */
  repeated: boolean;
  completedAt: string | null;
}

export interface ReplaceDeps {
  config: Config;
  catalog: CatalogReader & AuditTrail;
  journal: RunbookJournal;
  volumes: VolumeService;
  instances: InstanceService;
  clock: Clock;
  log: Log;
  actor: string;
  /** Bound of each wait (volume available, instance stopped or running). */
  waitTimeoutMs?: number;
  /** How long one invocation holds a request before another may take it over; longer than the Lambda timeout. */
  leaseMs?: number;
}

/**
 * replace-volume: restores an attached volume's generation into the instance's zone and swaps it in at the
 * same device: stop the instance if it runs, detach the old volume (kept, tagged `snapkeeper:replaced-by`),
 * attach the new one, start the instance if it ran. Any failed step rolls back to the recorded starting state
 * (deleting the new volume, which this request created). The request is recorded in the catalog under its
 * request id, so a second delivery returns what the first did instead of doing it again.
 */
export async function replaceVolume(
  request: ReplaceVolumeRequest,
  deps: ReplaceDeps,
): Promise<ReplaceVolumeResult> {
  const requestId = request.requestId ?? randomUUID();
  const existing = request.dryRun ? undefined : await deps.journal.get(REPLACE_VOLUME, requestId);
  if (existing) return again(existing, deps);

  const requestedAt = deps.clock.now().toISOString();
  const plan = await planReplacement(request, requestedAt, deps);
  const steps = stepsOf(plan);
  deps.log.info('replace planned', { ...plan, requestId, dryRun: request.dryRun });
  if (request.dryRun) {
    const result = resultOf(plan, requestId, { requestedAt, availableAt: null, initialization: null }, steps);
    await auditRunbook(deps, REPLACE_VOLUME, request, { ...result, dryRun: true });
    return { ...result, dryRun: true };
  }
  const record = newRecord(REPLACE_VOLUME, { ...plan }, requestId, requestedAt, deps);
  const begun = await deps.journal.begin(record);
  if (!begun.begun) return again(begun.existing, deps);
  return carryOut(request, record, deps);
}

/** A delivery of a request id already recorded: its result, its failure, or the work taken over. */
function again(record: RunbookRecord, deps: ReplaceDeps): Promise<ReplaceVolumeResult> {
  return seenBefore<ReplaceVolumeResult>(record, deps, (taken) => {
    const plan = record.plan as unknown as ReplacePlan;
    return carryOut(
      { volumeId: plan.oldVolumeId, generationId: plan.generationId, dryRun: false },
      taken,
      deps,
    );
  });
}

/** Everything checked before anything changes; each refusal names the field to fix. */
async function planReplacement(
  request: ReplaceVolumeRequest,
  requestedAt: string,
  deps: ReplaceDeps,
): Promise<ReplacePlan> {
  const region = deps.config.region;
  const volume = await deps.instances.volume(region, request.volumeId);
  if (!volume) {
    refuse(REPLACE_VOLUME, [
      {
        field: 'volumeId',
        message: `${request.volumeId} does not exist in ${region}; check the id and the Region`,
      },
    ]);
  }
  const attachment = volume?.attachment;
  if (!volume || !attachment) {
    refuse(REPLACE_VOLUME, [
      {
        field: 'volumeId',
        message: `${request.volumeId} is not attached to an instance, so there is nothing to swap; restore it as a new volume with restore-volume (snapkeeper restore --volume ${request.volumeId} --az <zone>)`,
      },
    ]);
  }
  const { instanceId, device } = attachment as NonNullable<typeof attachment>;
  const instance = await deps.instances.instance(region, instanceId);
  if (!instance || (instance.state !== 'running' && instance.state !== 'stopped')) {
    refuse(REPLACE_VOLUME, [
      {
        field: 'volumeId',
        message: `its instance ${instanceId} is ${instance?.state ?? 'gone'}; replace a volume of a running or stopped instance only: wait until it is running or stopped, then ask again`,
      },
    ]);
  }
  if (instance && !instance.tags[TAG.policy]) {
    refuse(REPLACE_VOLUME, [
      {
        field: 'volumeId',
        message: `its instance ${instanceId} carries no ${TAG.policy} tag: replace-volume stops, detaches and attaches only on instances snapkeeper backs up (its role is scoped to them); tag the instance, or restore with restore-volume and swap the volume by hand`,
      },
    ]);
  }
  const at = request.at ? new Date(request.at).toISOString() : requestedAt;
  const source = await findSource(REPLACE_VOLUME, request, at, region, deps);
  return {
    region,
    instanceId,
    instanceState: instance?.state as 'running' | 'stopped',
    device,
    oldVolumeId: request.volumeId,
    availabilityZone: (volume as NonNullable<typeof volume>).availabilityZone,
    generationId: source.generation.id,
    sourceSnapshotId: source.snapshotId,
  };
}

function stepsOf(plan: ReplacePlan): ReplaceStep[] {
  const running = plan.instanceState === 'running';
  return [
    'create-volume',
    ...(running ? (['stop-instance'] as const) : []),
    'detach-old',
    'attach-new',
    ...(running ? (['start-instance'] as const) : []),
    'tag-old',
  ];
}

/**
 * The steps, each written to converge: it looks at the world before acting, so a delivery that takes over a
 * dead one's request repeats nothing already done. The first failure rolls everything back.
 */
async function carryOut(
  request: ReplaceVolumeRequest,
  record: RunbookRecord,
  deps: ReplaceDeps,
): Promise<ReplaceVolumeResult> {
  const plan = record.plan as unknown as ReplacePlan;
  const { instances } = deps;
  const { region, instanceId, device, oldVolumeId } = plan;
  const timeoutMs = deps.waitTimeoutMs ?? DEFAULT_WAIT_MS;
  const keeper = recordKeeper(record, deps);
  let newVolumeId = record.progress.newVolumeId as string | undefined;
  let times: RestoreTimes = { requestedAt: record.startedAt, availableAt: null, initialization: null };
  let step: ReplaceStep = 'create-volume';
  const save = keeper.save;
  try {
    if (!newVolumeId) {
      const source = await findSource(
        REPLACE_VOLUME,
        { generationId: plan.generationId, volumeId: oldVolumeId },
        record.startedAt,
        region,
        deps,
      );
      // The token is the request's own: a retried CreateVolume of this request returns the same volume.
      const token = createHash('sha256').update(`${REPLACE_VOLUME}\n${record.requestId}`).digest('hex');
      newVolumeId = await createRestoredVolume(
        source,
        plan.availabilityZone,
        volumeShape({}, source.snapshot),
        token,
        deps,
      );
      await save({ progress: { ...keeper.record.progress, newVolumeId } });
    }
    const created = newVolumeId;
    times = await availability(region, created, record.startedAt, { ...deps, waitTimeoutMs: timeoutMs });
    if (plan.instanceState === 'running') {
      step = 'stop-instance';
      await instances.stop(region, instanceId);
      await instances.waitForInstance(region, instanceId, 'stopped', timeoutMs);
    }
    step = 'detach-old';
    if ((await instances.volume(region, oldVolumeId))?.attachment?.instanceId === instanceId) {
      await instances.detach(region, oldVolumeId, instanceId, device);
    }
    await instances.waitForVolume(region, oldVolumeId, 'available', timeoutMs);
    step = 'attach-new';
    if ((await instances.volume(region, created))?.attachment?.instanceId !== instanceId) {
      await instances.attach(region, created, instanceId, device);
    }
    await instances.waitForVolume(region, created, 'in-use', timeoutMs);
    if (plan.instanceState === 'running') {
      step = 'start-instance';
      await instances.start(region, instanceId);
      await instances.waitForInstance(region, instanceId, 'running', timeoutMs);
    }
    step = 'tag-old';
    await instances.tagVolume(region, oldVolumeId, { [TAG.replacedBy]: created });
  } catch (error) {
    if (error instanceof RunbookInProgressError) throw error;
    deps.log.error('replace step failed; rolling back', {
      requestId: record.requestId,
      step,
      error: describeError(error),
    });
    const left = await rollBack(plan, newVolumeId, timeoutMs, deps);
    const failure = `${step} failed: ${describeError(error)}`;
    await save({
      state: left.length === 0 ? 'rolled-back' : 'rollback-failed',
      failure,
      progress: { ...keeper.record.progress, failedStep: step, left },
    });
    await auditRunbook(deps, REPLACE_VOLUME, request, {
      requestId: record.requestId,
      ...plan,
      failure,
      rolledBack: left.length === 0,
      left,
    });
    throw new RunbookFailedError(
      left.length === 0
        ? `replace-volume ${failure}; rolled back: ${instanceId} is ${plan.instanceState} with ${oldVolumeId} at ${device} as before${newVolumeId ? `, and ${newVolumeId} was deleted` : ''}`
        : `replace-volume ${failure}, and the rollback could not finish: ${left.join('; ')}. Put ${oldVolumeId} back at ${device} of ${instanceId} and leave the instance ${plan.instanceState}`,
      step,
      left.length === 0,
      { cause: error },
    );
  }
  const result = {
    ...resultOf(plan, record.requestId, times, stepsOf(plan)),
    newVolumeId,
    completedAt: deps.clock.now().toISOString(),
  };
  await save({ state: 'completed', result: { ...result } });
  await auditRunbook(deps, REPLACE_VOLUME, request, { ...result });
  deps.log.info('volume replaced', { requestId: record.requestId, instanceId, oldVolumeId, newVolumeId });
  return result;
}

/**
 * Back to the plan's starting state, each undo checked against the world first: the new volume out, the old one
 * back at its device, the instance in its old state, the new volume deleted (this request created it). Returns
 * what could not be undone, empty when all was.
 */
async function rollBack(
  plan: ReplacePlan,
  newVolumeId: string | undefined,
  timeoutMs: number,
  deps: ReplaceDeps,
): Promise<string[]> {
  const { instances } = deps;
  const { region, instanceId, device, oldVolumeId } = plan;
  const left: string[] = [];
  const undo = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      left.push(`${what}: ${describeError(error)}`);
      deps.log.error('rollback step failed', { instanceId, what, error: describeError(error) });
    }
  };
  if (newVolumeId) {
    await undo(`detach ${newVolumeId}`, async () => {
      if ((await instances.volume(region, newVolumeId))?.attachment?.instanceId !== instanceId) return;
      await instances.detach(region, newVolumeId, instanceId, device);
      await instances.waitForVolume(region, newVolumeId, 'available', timeoutMs);
    });
  }
  await undo(`attach ${oldVolumeId} at ${device}`, async () => {
    if ((await instances.volume(region, oldVolumeId))?.attachment?.instanceId === instanceId) return;
    await instances.waitForVolume(region, oldVolumeId, 'available', timeoutMs);
    await instances.attach(region, oldVolumeId, instanceId, device);
    await instances.waitForVolume(region, oldVolumeId, 'in-use', timeoutMs);
  });
  await undo(`return ${instanceId} to ${plan.instanceState}`, async () => {
    const state = (await instances.instance(region, instanceId))?.state;
    if (state === plan.instanceState) return;
    if (plan.instanceState === 'running') {
      if (state === 'stopping') await instances.waitForInstance(region, instanceId, 'stopped', timeoutMs);
      await instances.start(region, instanceId);
      await instances.waitForInstance(region, instanceId, 'running', timeoutMs);
    }
  });
  if (newVolumeId && left.length === 0) {
    await undo(`delete ${newVolumeId}`, async () => {
      if (await instances.volume(region, newVolumeId)) await instances.deleteVolume(region, newVolumeId);
    });
  }
  return left;
}

function resultOf(
  plan: ReplacePlan,
  requestId: string,
  times: RestoreTimes,
  steps: ReplaceStep[],
): ReplaceVolumeResult {
  return {
    ...plan,
    ...times,
    requestId,
    newVolumeId: null,
    dryRun: false,
    steps,
    repeated: false,
    completedAt: null,
  };
}
