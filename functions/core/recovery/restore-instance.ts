import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import type { AuditTrail, CatalogReader } from '#core/model/catalog.ts';
import { describeError, RunbookFailedError, RunbookInProgressError } from '#core/model/errors.ts';
import type { Clock, Log, Tags } from '#core/model/ports.ts';
import { awsRegion } from '#core/model/regions.ts';
import { TAG } from '#core/model/tags.ts';
import { instanceIdField } from './instance-source.ts';
import { type JournalDeps, newRecord, recordKeeper, requestIdField, seenBefore } from './journal.ts';
import { type InstancePlan, planLaunch } from './launch-plan.ts';
import type {
  InstanceService,
  LaunchService,
  RunbookRecord,
  VolumeInitialization,
  VolumeService,
} from './ports.ts';
import { auditRunbook, parseRequest } from './request.ts';
import { DEFAULT_WAIT_MS } from './restore.ts';
import { generationIdField, isoTime } from './source.ts';

export const RESTORE_INSTANCE = 'restore-instance';

const securityGroupList = z
  .string()
  .regex(
    /^sg-[0-9a-f]{8,17}(,sg-[0-9a-f]{8,17})*$/,
    'must be security group ids separated by commas, such as sg-0123456789abcdef0,sg-0fedcba987654321f',
  );

/** The fields of the restore-instance runbook's request. */
export const restoreInstanceFields = {
  /** The source instance: launch its newest completed AMI generation at or before `at`. */
  instanceId: instanceIdField.optional(),
  /** Launch this AMI generation instead (with `instanceId`, that member of a group generation). */
  generationId: generationIdField.optional(),
  /** The point in time (ISO-8601); default now. */
  at: isoTime.optional(),
  /** Launch in this copy Region, from the generation's DR copy of the AMI and data snapshots; default the primary. */
  region: awsRegion.optional(),
  /** Default the source instance's subnet (primary Region only). */
  subnetId: z
    .string()
    .regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id such as subnet-0123456789abcdef0')
    .optional(),
  /** Default the source instance's type. */
  instanceType: z
    .string()
    .regex(/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/, 'must be an instance type such as t3.micro')
    .optional(),
  /** Comma-separated; default the source instance's groups when the subnet is in its VPC. */
  securityGroupIds: securityGroupList.optional(),
  /** Default the source instance's key pair. */
  keyName: z
    .string()
    .regex(/^[A-Za-z0-9._:@+=,/-]{1,255}$/, 'must be a key pair name (letters, digits and ._:@+=,/-)')
    .optional(),
  /** An IAM instance profile name or ARN; default the source instance's. */
  instanceProfile: z
    .string()
    .regex(
      /^(arn:aws[a-z-]*:iam::\d{12}:instance-profile\/)?[\w+=,.@/-]{1,128}$/,
      'must be an instance profile name or ARN',
    )
    .optional(),
  /** Launch from a deprecated AMI anyway. */
  force: z.boolean().default(false),
  /** Check everything the launch would, create nothing. */
  dryRun: z.boolean().default(false),
  /** The same request id twice launches once (the Lambda passes its request id, Automation its execution id). */
  requestId: requestIdField.optional(),
};

export const RestoreInstanceRequestSchema = z
  .strictObject(restoreInstanceFields)
  .refine((r) => Boolean(r.instanceId || r.generationId), {
    message: 'give {instanceId} (launch its newest AMI generation at or before {at}) or {generationId}',
  })
  .refine((r) => !(r.at && r.generationId), { message: 'give {at} or {generationId}, not both' });

export type RestoreInstanceRequest = z.output<typeof RestoreInstanceRequestSchema>;

export function parseRestoreInstanceRequest(input: unknown): RestoreInstanceRequest {
  return parseRequest(RESTORE_INSTANCE, RestoreInstanceRequestSchema, input);
}

/** What a caller in code (a drill) may change about what the launch carries; no request field sets these. */
export interface RestoreInstanceOptions {
  /** Tags added to the instance (after the carried ones, before snapkeeper's own). */
  extraTags?: Tags;
  /** False: carry none of the source instance's tags (a scratch instance). Default true. */
  carrySourceTags?: boolean;
}

/** A step of the restore, in the order they run. */
export type RestoreInstanceStep =
  | 'launch-instance'
  | 'create-volumes'
  | 'wait-running'
  | 'wait-volumes'
  | 'attach-volumes';

export interface RestoreInstanceResult extends InstancePlan {
  requestId: string;
  instanceId: string | null;
  /** Device → restored data volume. */
  volumeIds: Record<string, string>;
  steps: RestoreInstanceStep[];
  dryRun: boolean;
  /** True when this request id had already been carried out: nothing was done again. */
  repeated: boolean;
  requestedAt: string;
  /** When the instance was `running`; null on a dry run. */
  runningAt: string | null;
  /** When every data volume was attached at its device: the instance is whole. */
  attachedAt: string | null;
  /** Device → how far EBS has written the restored data volume. */
  initialization: Record<string, VolumeInitialization>;
  completedAt: string | null;
}

export interface RestoreInstanceDeps extends JournalDeps {
  config: Config;
  catalog: CatalogReader & AuditTrail;
  volumes: VolumeService;
  instances: InstanceService;
  launches: LaunchService;
  clock: Clock;
  log: Log;
  actor: string;
  /** Bound of each wait (instance running or terminated, volume available or attached). */
  waitTimeoutMs?: number;
}

/**
 * restore-instance: launches an instance from an AMI generation (at home, or from its DR copy in a copy Region),
 * restores the generation's data volumes in the instance's zone and attaches each at its device. Key pair,
 * instance profile, security groups, subnet, type and tags come from the source instance unless the request
 * overrides them; everything EC2 would refuse is refused first, naming the field. Any failed step terminates
 * the instance and deletes the volumes this request created. The request is journalled under its id, so the
 * same request twice launches once.
 */
export async function restoreInstance(
  request: RestoreInstanceRequest,
  deps: RestoreInstanceDeps,
  options: RestoreInstanceOptions = {},
): Promise<RestoreInstanceResult> {
  const requestId = request.requestId ?? randomUUID();
  const existing = request.dryRun ? undefined : await deps.journal.get(RESTORE_INSTANCE, requestId);
  if (existing) return again(existing, deps);

  const requestedAt = deps.clock.now().toISOString();
  const plan = await planLaunch(RESTORE_INSTANCE, request, requestedAt, deps, options);
  deps.log.info('restore-instance planned', { ...plan, tags: undefined, requestId, dryRun: request.dryRun });
  const empty = resultOf(plan, requestId, requestedAt);
  if (request.dryRun) {
    const result = { ...empty, dryRun: true };
    await auditRunbook(deps, RESTORE_INSTANCE, request, { ...result });
    return result;
  }
  const record = newRecord(RESTORE_INSTANCE, { ...plan }, requestId, requestedAt, deps);
  const begun = await deps.journal.begin(record);
  if (!begun.begun) return again(begun.existing, deps);
  return carryOut(request, record, deps);
}

function again(record: RunbookRecord, deps: RestoreInstanceDeps): Promise<RestoreInstanceResult> {
  return seenBefore<RestoreInstanceResult>(record, deps, (taken) =>
    carryOut({ generationId: String(taken.plan.generationId), force: true, dryRun: false }, taken, deps),
  );
}

/** The token of one thing this request creates: the same request (and part) gives the same token. */
function tokenOf(requestId: string, part: string): string {
  return createHash('sha256').update(`${RESTORE_INSTANCE}\n${requestId}\n${part}`).digest('hex').slice(0, 64);
}

/**
 * The steps, each converging on what the journal says was done, so a delivery that takes over a dead one's
 * request launches nothing twice (RunInstances and CreateVolume carry tokens of the request). The first failure
 * undoes everything this request made.
 */
async function carryOut(
  request: RestoreInstanceRequest,
  record: RunbookRecord,
  deps: RestoreInstanceDeps,
): Promise<RestoreInstanceResult> {
  const plan = record.plan as unknown as InstancePlan;
  const { region } = plan;
  const { instances, volumes, launches } = deps;
  const timeoutMs = deps.waitTimeoutMs ?? DEFAULT_WAIT_MS;
  const keeper = recordKeeper(record, deps);
  const progress = record.progress as { instanceId?: string; volumeIds?: Record<string, string> };
  let instanceId = progress.instanceId;
  const volumeIds: Record<string, string> = { ...progress.volumeIds };
  let step: RestoreInstanceStep = 'launch-instance';
  let runningAt: string | null = null;
  try {
    if (!instanceId) {
      instanceId = await launches.launch({
        region,
        imageId: plan.imageId,
        instanceType: plan.instanceType,
        subnetId: plan.subnetId,
        securityGroupIds: plan.securityGroupIds,
        ...(plan.keyName ? { keyName: plan.keyName } : {}),
        ...(plan.instanceProfile ? { instanceProfile: plan.instanceProfile } : {}),
        tags: { ...plan.tags, [TAG.request]: record.requestId },
        clientToken: tokenOf(record.requestId, 'instance'),
      });
      deps.log.info('restore-instance launched', { requestId: record.requestId, instanceId });
      await keeper.save({ progress: { ...keeper.record.progress, instanceId } });
    }
    const launched = instanceId;
    step = 'create-volumes';
    for (const volume of plan.volumes) {
      if (volumeIds[volume.deviceName]) continue;
      volumeIds[volume.deviceName] = await volumes.createVolume({
        region,
        snapshotId: volume.snapshotId,
        availabilityZone: plan.availabilityZone,
        ...volume.shape,
        tags: volume.tags,
        idempotencyToken: tokenOf(record.requestId, volume.deviceName),
      });
    }
    if (plan.volumes.length > 0) await keeper.save({ progress: { ...keeper.record.progress, volumeIds } });
    step = 'wait-running';
    await instances.waitForInstance(region, launched, 'running', timeoutMs);
    runningAt = deps.clock.now().toISOString();
    step = 'wait-volumes';
    for (const volumeId of Object.values(volumeIds)) {
      await volumes.waitUntilAvailable(region, volumeId, { timeoutMs });
    }
    step = 'attach-volumes';
    for (const [device, volumeId] of Object.entries(volumeIds)) {
      if ((await instances.volume(region, volumeId))?.attachment?.instanceId !== launched) {
        await instances.attach(region, volumeId, launched, device);
      }
      await instances.waitForVolume(region, volumeId, 'in-use', timeoutMs);
    }
  } catch (error) {
    if (error instanceof RunbookInProgressError) throw error;
    return failed(request, keeper, plan, { step, error, instanceId, volumeIds }, deps);
  }
  const attachedAt = deps.clock.now().toISOString();
  const initialization: Record<string, VolumeInitialization> = {};
  for (const [device, volumeId] of Object.entries(volumeIds)) {
    initialization[device] = await volumes.initialization(region, volumeId, deps.clock.now());
  }
  const result: RestoreInstanceResult = {
    ...resultOf(plan, record.requestId, record.startedAt),
    instanceId: instanceId as string,
    volumeIds,
    runningAt,
    attachedAt,
    initialization,
    completedAt: deps.clock.now().toISOString(),
  };
  await keeper.save({ state: 'completed', result: { ...result } });
  await auditRunbook(deps, RESTORE_INSTANCE, request, { ...result });
  deps.log.info('instance restored', { requestId: record.requestId, instanceId, volumeIds });
  return result;
}

/** Undoes what the request made, records how it ended and fails with what is left, if anything. */
async function failed(
  request: RestoreInstanceRequest,
  keeper: ReturnType<typeof recordKeeper>,
  plan: InstancePlan,
  made: { step: RestoreInstanceStep; error: unknown; instanceId?: string; volumeIds: Record<string, string> },
  deps: RestoreInstanceDeps,
): Promise<never> {
  const { step, error } = made;
  const requestId = keeper.record.requestId;
  deps.log.error('restore-instance step failed; undoing', { requestId, step, error: describeError(error) });
  const { left, undone } = await undo(plan, requestId, made, deps);
  const failure = `${step} failed: ${describeError(error)}`;
  await keeper.save({
    state: left.length === 0 ? 'rolled-back' : 'rollback-failed',
    failure,
    progress: { ...keeper.record.progress, failedStep: step, left, undone },
  });
  await auditRunbook(deps, RESTORE_INSTANCE, request, {
    requestId,
    ...plan,
    failure,
    rolledBack: left.length === 0,
    undone,
    left,
  });
  throw new RunbookFailedError(
    left.length === 0
      ? `restore-instance ${failure}; rolled back: ${undone.length ? `${undone.join(', ')}` : 'nothing had been created'}`
      : `restore-instance ${failure}, and the rollback could not finish: ${left.join('; ')}. Terminate instances tagged ${TAG.request}=${requestId} and delete the volumes tagged ${TAG.restoredFrom}=${plan.generationId} that are not in use`,
    step,
    left.length === 0,
    { cause: error },
  );
}

/**
 * Terminates the instance (or, when the launch's answer was lost, whatever carries this request's tag) and
 * deletes the restored volumes once they are detached. Returns what was undone and what could not be.
 */
async function undo(
  plan: InstancePlan,
  requestId: string,
  made: { instanceId?: string; volumeIds: Record<string, string> },
  deps: RestoreInstanceDeps,
): Promise<{ undone: string[]; left: string[] }> {
  const { region } = plan;
  const timeoutMs = deps.waitTimeoutMs ?? DEFAULT_WAIT_MS;
  const undone: string[] = [];
  const left: string[] = [];
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
      undone.push(what);
    } catch (error) {
      left.push(`${what}: ${describeError(error)}`);
      deps.log.error('rollback step failed', { requestId, what, error: describeError(error) });
    }
  };
  let launched: string[] = made.instanceId ? [made.instanceId] : [];
  if (launched.length === 0) {
    try {
      launched = await deps.launches.launchedBy(region, requestId);
    } catch (error) {
      left.push(`look for an instance launched by ${requestId}: ${describeError(error)}`);
    }
  }
  for (const instanceId of launched) {
    await attempt(`terminated ${instanceId}`, async () => {
      await deps.launches.terminate(region, instanceId);
      await deps.launches.waitUntilTerminated(region, instanceId, timeoutMs);
    });
  }
  for (const volumeId of Object.values(made.volumeIds)) {
    await attempt(`deleted ${volumeId}`, async () => {
      if (!(await deps.instances.volume(region, volumeId))) return;
      await deps.instances.waitForVolume(region, volumeId, 'available', timeoutMs);
      await deps.instances.deleteVolume(region, volumeId);
    });
  }
  return { undone, left };
}

function resultOf(plan: InstancePlan, requestId: string, requestedAt: string): RestoreInstanceResult {
  return {
    ...plan,
    requestId,
    instanceId: null,
    volumeIds: {},
    steps: [
      'launch-instance',
      ...(plan.volumes.length > 0
        ? (['create-volumes', 'wait-running', 'wait-volumes', 'attach-volumes'] as const)
        : (['wait-running'] as const)),
    ],
    dryRun: false,
    repeated: false,
    requestedAt,
    runningAt: null,
    attachedAt: null,
    initialization: {},
    completedAt: null,
  };
}
