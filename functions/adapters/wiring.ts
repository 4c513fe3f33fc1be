import type { Config } from '../core/config.ts';
import type { PlanDeps } from '../core/plan.ts';
import type { Clock, Log, Timer } from '../core/ports.ts';
import type { ReconcileDeps } from '../core/reconcile.ts';
import type { RestoreDeps } from '../core/restore.ts';
import type { RunDeps } from '../core/run.ts';
import { DynamoCatalog } from './catalog.ts';
import { AwsClients } from './clients.ts';
import { Ec2Inventory, Ec2SnapshotService } from './ec2.ts';
import { Ec2ImageService } from './ec2-images.ts';
import { Ec2Pruner } from './ec2-pruner.ts';
import { Ec2VolumeService } from './ec2-volumes.ts';
import { SsmFreezeAgent } from './ssm.ts';

/** What the handlers and the CLI share to build the core's dependencies: one place that wires adapters. */
export interface Wiring {
  config: Config;
  clients?: AwsClients;
  clock?: Clock;
  log: Log;
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

export function runDeps({ config, clients = new AwsClients(), clock = systemClock, log }: Wiring): RunDeps {
  const ec2 = clients.ec2(config.region);
  return {
    config,
    inventory: new Ec2Inventory(ec2),
    snapshots: new Ec2SnapshotService(ec2),
    catalog: catalogFor(config, clients),
    clock,
    log,
    freezeAgent: new SsmFreezeAgent(clients.ssm(config.region)),
    images: new Ec2ImageService(ec2),
    timer: systemTimer,
  };
}

export function restoreDeps(
  { config, clients = new AwsClients(), clock = systemClock, log }: Wiring,
  actor: string,
): RestoreDeps {
  return {
    config,
    catalog: catalogFor(config, clients),
    volumes: new Ec2VolumeService(clients),
    clock,
    log,
    actor,
  };
}

export function reconcileDeps({
  config,
  clients = new AwsClients(),
  clock = systemClock,
  log,
}: Wiring): ReconcileDeps {
  return {
    config,
    catalog: catalogFor(config, clients),
    snapshots: new Ec2SnapshotService(clients.ec2(config.region)),
    pruner: new Ec2Pruner(clients, config.region),
    clock,
    log,
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
