import { StsAccount } from '#adapters/account.ts';
import { DynamoCatalog } from '#adapters/catalog/catalog.ts';
import { DynamoCopySlots } from '#adapters/catalog/copy-slots.ts';
import { DynamoDrillHistory } from '#adapters/catalog/drills.ts';
import { DynamoRunbookJournal } from '#adapters/catalog/runbook-journal.ts';
import { AwsClients } from '#adapters/clients.ts';
import { SqsCopyQueue } from '#adapters/copy-queue.ts';
import { Ec2CopyService } from '#adapters/ec2/copies.ts';
import { Ec2ImageService } from '#adapters/ec2/images.ts';
import { Ec2InstanceService } from '#adapters/ec2/instances.ts';
import { Ec2LaunchService } from '#adapters/ec2/launches.ts';
import { Ec2Pruner } from '#adapters/ec2/pruner.ts';
import { Ec2Inventory, Ec2SnapshotService, Ec2SnapshotSizes } from '#adapters/ec2/snapshots.ts';
import { Ec2VolumeService } from '#adapters/ec2/volumes.ts';
import { S3ManifestStore } from '#adapters/manifests.ts';
import { SsmMarkKey, sandboxMarkKeyParameter } from '#adapters/mark-key.ts';
import { SsmFreezeAgent } from '#adapters/ssm.ts';
import type { RunDeps } from '#core/backup/run.ts';
import type { Config } from '#core/config/config.ts';
import type { CopyDeps, CopyQueue } from '#core/copies/ports.ts';
import type { PlanDeps } from '#core/lifecycle/plan.ts';
import type { ReconcileDeps } from '#core/lifecycle/reconcile.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { InputError } from '#core/model/errors.ts';
import type { MarkKey } from '#core/model/mark.ts';
import type { Clock, Log, Timer } from '#core/model/ports.ts';
import { ManifestCatalog, ManifestingCatalog } from '#core/recovery/manifests.ts';
import type { ReplaceDeps } from '#core/recovery/replace.ts';
import type { RestoreDeps } from '#core/recovery/restore.ts';
import type { RestoreInstanceDeps } from '#core/recovery/restore-instance.ts';
import type { ReportDeps } from '#core/report/ports.ts';

/** What the handlers and the CLI share to build the core's dependencies: one place that wires adapters. */
export interface Wiring {
  config: Config;
  clients?: AwsClients;
  clock?: Clock;
  log: Log;
  /** The SQS copy queue, where completed generations' DR copies are queued. */
  copyQueueUrl?: string;
  /** The SSM parameter holding the mark key (`SNAPKEEPER_MARK_KEY_PARAMETER`); the sandbox's when absent. */
  markKeyParameter?: string;
  /** A run's bound on waiting for claims other deliveries hold (`RunDeps.maxClaimWaitMs`). */
  maxClaimWaitMs?: number;
}

/** What the copy worker needs: the core's copy ports plus the queue it sends waiting messages back to. */
export type CopyWorkerDeps = Omit<CopyDeps, 'holder'> & { copyQueue: CopyQueue };

/** The copy queue, when there is one. A config that copies anywhere without one is refused at once. */
function copyQueueFor(config: Config, clients: AwsClients, url: string | undefined): CopyQueue | undefined {
  if (url) return new SqsCopyQueue(clients.sqs(config.region), url);
  if (config.policies.some((p) => p.copies.length > 0)) {
    throw new InputError(
      'the config copies generations to other Regions but no copy queue is known: set SNAPKEEPER_COPY_QUEUE_URL (the stack does), or run `snapkeeper init` to create the queue',
    );
  }
  return undefined;
}

/** The mark key, read from SSM on first use and cached by the adapter for the life of the process. */
function markKeyFor(config: Config, clients: AwsClients, parameter: string | undefined): MarkKey {
  const table = config.catalog.table;
  return new SsmMarkKey(clients.ssm(config.region), parameter ?? sandboxMarkKeyParameter(table), table);
}

export function copyWorkerDeps(
  { config, clients = new AwsClients(), clock = systemClock, log, markKeyParameter }: Wiring,
  copyQueueUrl: string | undefined,
): CopyWorkerDeps {
  const copyQueue = copyQueueFor(config, clients, copyQueueUrl);
  if (!copyQueue) {
    throw new InputError('the copy worker needs the copy queue: set SNAPKEEPER_COPY_QUEUE_URL');
  }
  return {
    config,
    catalog: writingCatalog(config, clients, log, clock),
    copies: new Ec2CopyService(clients),
    slots: new DynamoCopySlots(clients.dynamo(config.region), config.catalog.table),
    clock,
    log,
    copyQueue,
    markKey: markKeyFor(config, clients, markKeyParameter),
  };
}

export const systemClock: Clock = { now: () => new Date() };

/** setTimeout fires at once for anything longer than this (about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Real waiting; an aborted wait resolves at once and leaves no timer behind to hold the process open. */
export const systemTimer: Timer = {
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timeout = setTimeout(
        () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        },
        Math.min(ms, MAX_TIMEOUT_MS),
      );
      const abort = () => {
        clearTimeout(timeout);
        resolve();
      };
      signal?.addEventListener('abort', abort, { once: true });
    }),
};

export function catalogFor(config: Config, clients: AwsClients): DynamoCatalog {
  return new DynamoCatalog(clients.dynamo(config.region), config.catalog.table);
}

/** The manifest bucket of the config, or undefined when the config names none. */
export function manifestStoreFor(config: Config, clients: AwsClients): S3ManifestStore | undefined {
  return (
    config.manifests && new S3ManifestStore(clients.s3(config.manifests.region), config.manifests.bucket)
  );
}

/** The catalog that runs and reconcile write through: it also writes manifests when the config names a bucket. */
function writingCatalog(config: Config, clients: AwsClients, log: Log, clock: Clock): Catalog {
  const catalog = catalogFor(config, clients);
  const manifests = manifestStoreFor(config, clients);
  return manifests ? new ManifestingCatalog(catalog, manifests, log, clock) : catalog;
}

export function runDeps({
  config,
  clients = new AwsClients(),
  clock = systemClock,
  log,
  copyQueueUrl,
  markKeyParameter,
  maxClaimWaitMs,
}: Wiring): RunDeps {
  const ec2 = clients.ec2(config.region);
  const copyQueue = copyQueueFor(config, clients, copyQueueUrl);
  return {
    ...(copyQueue ? { copyQueue } : {}),
    config,
    inventory: new Ec2Inventory(ec2),
    snapshots: new Ec2SnapshotService(ec2, clients.ec2Creates(config.region)),
    account: new StsAccount(clients.sts(config.region)),
    catalog: writingCatalog(config, clients, log, clock),
    clock,
    log,
    freezeAgent: new SsmFreezeAgent(clients.ssm(config.region)),
    images: new Ec2ImageService(ec2, clients.ec2Creates(config.region)),
    timer: systemTimer,
    markKey: markKeyFor(config, clients, markKeyParameter),
    ...(maxClaimWaitMs === undefined ? {} : { maxClaimWaitMs }),
  };
}

/**
 * The ports of an on-demand backup (the backup Lambda and `snapkeeper backup`): a run's, under an entry of its own
 * because the backup Lambda has a role of its own.
 */
export function backupDeps(wiring: Wiring): RunDeps {
  return runDeps(wiring);
}

/** The manifest bucket of the config, for reading; an `InputError` naming the fix when the config has none. */
export function requiredManifests(config: Config, clients: AwsClients): S3ManifestStore {
  const store = manifestStoreFor(config, clients);
  if (!store) {
    throw new InputError(
      'the config has no "manifests" key, so there are no manifests to read; add "manifests": { "bucket": …, "region": … } to it',
    );
  }
  return store;
}

/**
 * The restore runbook's ports. With `fromManifests` it finds generations in the manifests, read-only (the
 * catalog is unreachable), and its audit entry goes to the log.
 */
export function restoreDeps(
  { config, clients = new AwsClients(), clock = systemClock, log }: Wiring,
  actor: string,
  options: { fromManifests?: boolean } = {},
): RestoreDeps {
  return {
    config,
    catalog: options.fromManifests
      ? new ManifestCatalog(requiredManifests(config, clients), log)
      : catalogFor(config, clients),
    volumes: new Ec2VolumeService(clients),
    clock,
    log,
    actor,
  };
}

/**
 * The replace-volume runbook's ports: the catalog for generations, the audit trail and the request journal (all
 * its writes are under the audit prefix), EC2 for the volume and the instance.
 */
export function replaceDeps(
  { config, clients = new AwsClients(), clock = systemClock, log }: Wiring,
  actor: string,
): ReplaceDeps {
  return {
    config,
    catalog: catalogFor(config, clients),
    journal: new DynamoRunbookJournal(clients.dynamo(config.region), config.catalog.table),
    volumes: new Ec2VolumeService(clients),
    instances: new Ec2InstanceService(clients),
    clock,
    log,
    actor,
  };
}

/**
 * The restore-instance runbook's ports: replace-volume's (catalog, audit trail, journal, volumes, attachments) and
 * EC2's images, networks and launches.
 */
export function restoreInstanceDeps(wiring: Wiring, actor: string): RestoreInstanceDeps {
  const clients = wiring.clients ?? new AwsClients();
  return { ...replaceDeps({ ...wiring, clients }, actor), launches: new Ec2LaunchService(clients) };
}

export function reconcileDeps({
  config,
  clients = new AwsClients(),
  clock = systemClock,
  log,
  copyQueueUrl,
  markKeyParameter,
}: Wiring): ReconcileDeps {
  const copyQueue = copyQueueFor(config, clients, copyQueueUrl);
  return {
    ...(copyQueue ? { copyQueue } : {}),
    slots: new DynamoCopySlots(clients.dynamo(config.region), config.catalog.table),
    images: new Ec2ImageService(clients.ec2(config.region)),
    config,
    catalog: writingCatalog(config, clients, log, clock),
    snapshots: new Ec2SnapshotService(clients.ec2(config.region)),
    inventory: new Ec2Inventory(clients.ec2(config.region)),
    account: new StsAccount(clients.sts(config.region)),
    pruner: new Ec2Pruner(clients, config.region),
    clock,
    log,
    markKey: markKeyFor(config, clients, markKeyParameter),
  };
}

export function planDeps({
  config,
  clients = new AwsClients(),
  clock = systemClock,
}: Omit<Wiring, 'log'>): PlanDeps {
  return {
    config,
    inventory: new Ec2Inventory(clients.ec2(config.region)),
    catalog: catalogFor(config, clients),
    pruner: new Ec2Pruner(clients, config.region),
    clock,
  };
}

/** The report's ports: reads only (the catalog, the fleet, snapshot sizes and the drills' records). */
export function reportDeps({
  config,
  clients = new AwsClients(),
}: Pick<Wiring, 'config' | 'clients'>): ReportDeps {
  const ec2 = clients.ec2(config.region);
  const inventory = new Ec2Inventory(ec2);
  return {
    config,
    catalog: catalogFor(config, clients),
    inventory,
    fleet: inventory,
    sizes: new Ec2SnapshotSizes(ec2),
    drills: new DynamoDrillHistory(clients.dynamo(config.region), config.catalog.table),
  };
}
