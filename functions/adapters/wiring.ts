import type { Config } from '../core/config.ts';
import type { Clock, Log } from '../core/ports.ts';
import type { ReconcileDeps } from '../core/reconcile.ts';
import type { RestoreDeps } from '../core/restore.ts';
import type { RunDeps } from '../core/run.ts';
import { DynamoCatalog } from './catalog.ts';
import { AwsClients } from './clients.ts';
import { Ec2Inventory, Ec2SnapshotService } from './ec2.ts';
import { Ec2VolumeService } from './ec2-volumes.ts';

/** What the handlers and the CLI share to build the core's dependencies: one place that wires adapters. */
export interface Wiring {
  config: Config;
  clients?: AwsClients;
  clock?: Clock;
  log: Log;
}

export const systemClock: Clock = { now: () => new Date() };

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
    catalog: catalogFor(config, clients),
    snapshots: new Ec2SnapshotService(clients.ec2(config.region)),
    clock,
    log,
  };
}
