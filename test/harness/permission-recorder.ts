import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { catalogLayout } from '#adapters/catalog/layout.ts';
import { AwsClients } from '#adapters/clients.ts';
import type { Config } from '#core/config/config.ts';
import type * as Wiring from '#wiring';
import type { Shape } from './faults.ts';
import { type ResourceFacts, resourceFacts } from './permission-lookups.ts';

/**
 * Which Lambda each composition-root entry builds the ports of (`functions/handlers/*` call exactly these).
 * A call made through ports built by one of these runs, in AWS, as that function's role. A new Lambda needs
 * its entry here, or the permission contract test fails for it (no recorded calls).
 */
export const LAMBDA_WIRING = {
  runDeps: 'scheduled-run',
  backupDeps: 'backup',
  reconcileDeps: 'reconcile',
  restoreDeps: 'restore-volume',
  replaceDeps: 'replace-volume',
  restoreInstanceDeps: 'restore-instance',
  copyWorkerDeps: 'copy-worker',
} as const satisfies Partial<Record<keyof typeof Wiring, string>>;

/** One AWS call a Lambda's code issued, as written to the record file (one JSON object a line). */
export interface PermissionCall {
  kind: 'call';
  /** The handler file name, as the stack's `snapkeeper:handler` metadata names the function. */
  function: string;
  /** Hash of the configuration the ports were built from; its `config` line comes first in the file. */
  config: string;
  /** The SDK's service id: `EC2`, `DynamoDB`, `S3`, `SQS`, `SSM`. */
  service: string;
  /** The API action (`TransactWriteItems`); document-client commands are named by the API action they send. */
  action: string;
  /** The Region the client signs for, which is where the call acts. */
  region: string;
  /** The request, without bodies and item attributes other than the keys (see `trimmed`). */
  input: Shape;
  /** Tags and encryption of the existing resources the call acts on, looked up before the call. */
  resources: Record<string, ResourceFacts>;
}

/** The configuration a run of calls was wired with, written once per file before its first call. */
export interface PermissionConfig {
  kind: 'config';
  hash: string;
  config: Config;
}

export type PermissionRecord = PermissionCall | PermissionConfig;

let recordFile: string | undefined;
const written = new Set<string>();

/** Where this test file appends its records; the integration tier's global setup empties it once per run. */
export function recordPermissionsTo(file: string): void {
  recordFile = file;
}

/**
 * `#wiring` with every Lambda entry of `LAMBDA_WIRING` building its ports on recording clients, so each call
 * those ports make is written down as made by that Lambda. The caller's clients (with their fault layer) still
 * carry every call; only calls through the returned ports are recorded, never a test's own setup calls.
 */
export function recordedWiring(real: typeof Wiring): typeof Wiring {
  const wrap =
    <A extends [Wiring.Wiring, ...unknown[]], R>(name: string, factory: (...args: A) => R) =>
    (...args: A): R => {
      const [wiring, ...rest] = args;
      const clients = recordingClients(wiring.clients ?? new AwsClients(), name, wiring.config);
      return factory(...([{ ...wiring, clients }, ...rest] as unknown as A));
    };
  return {
    ...real,
    runDeps: wrap(LAMBDA_WIRING.runDeps, real.runDeps),
    backupDeps: wrap(LAMBDA_WIRING.backupDeps, real.backupDeps),
    reconcileDeps: wrap(LAMBDA_WIRING.reconcileDeps, real.reconcileDeps),
    restoreDeps: wrap(LAMBDA_WIRING.restoreDeps, real.restoreDeps),
    replaceDeps: wrap(LAMBDA_WIRING.replaceDeps, real.replaceDeps),
    restoreInstanceDeps: wrap(LAMBDA_WIRING.restoreInstanceDeps, real.restoreInstanceDeps),
    copyWorkerDeps: wrap(LAMBDA_WIRING.copyWorkerDeps, real.copyWorkerDeps),
  };
}

type ClientMethod = 'ec2' | 'ec2Creates' | 'ssm' | 's3' | 'sqs' | 'dynamo';
// Every client method of AwsClients: one left out here would make its calls invisible to the permission contract.
const CLIENT_METHODS = new Set<string>(['ec2', 'ec2Creates', 'ssm', 's3', 'sqs', 'dynamo']);

interface SendingClient {
  config: { serviceId?: string; region: () => Promise<string> };
  send(command: unknown, ...rest: unknown[]): Promise<unknown>;
}

interface SdkCommand {
  input: Shape;
  /** lib-dynamodb's commands wrap the API command they send. */
  clientCommand?: object;
}

/**
 * A view of `clients` whose SDK clients record each `send` (paginators and waiters send through them too)
 * before passing it on unchanged. The SDK clients themselves, their caches and middleware are the caller's.
 */
export function recordingClients(clients: AwsClients, fn: string, config: Config): AwsClients {
  const views = new Map<unknown, unknown>();
  return new Proxy(clients, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !CLIENT_METHODS.has(property)) return value;
      return (region: string) => {
        const client = target[property as ClientMethod](region) as unknown as SendingClient;
        let view = views.get(client);
        if (!view) {
          view = recordingClient(client, fn, config);
          views.set(client, view);
        }
        return view;
      };
    },
  });
}

function recordingClient(client: SendingClient, fn: string, config: Config): SendingClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return async (command: SdkCommand, ...rest: unknown[]) => {
        await record(fn, config, target, command);
        return target.send(command, ...rest);
      };
    },
  });
}

async function record(fn: string, config: Config, client: SendingClient, command: SdkCommand): Promise<void> {
  if (!recordFile) {
    throw new Error(
      'the permission recorder has no record file: test/harness/permission-recording.ts must call recordPermissionsTo first',
    );
  }
  const service = client.config.serviceId ?? 'unknown';
  const action = (command.clientCommand ?? command).constructor.name.replace(/Command$/, '');
  const region = await client.config.region();
  const call: PermissionCall = {
    kind: 'call',
    function: fn,
    config: configHash(config),
    service,
    action,
    region,
    input: trimmed(command.input),
    resources: await resourceFacts(service, action, region, command.input),
  };
  const line = JSON.stringify(call);
  if (written.has(line)) return;
  if (!written.has(call.config)) {
    const header: PermissionConfig = { kind: 'config', hash: call.config, config };
    appendFileSync(recordFile, `${JSON.stringify(header)}\n`);
    written.add(call.config);
  }
  appendFileSync(recordFile, `${line}\n`);
  written.add(line);
}

function configHash(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

/** Attributes whose values say nothing about permissions and can be large: bodies, scripts, item contents. */
const DROPPED = new Set([
  'Body',
  'MessageBody',
  'Parameters',
  'UpdateExpression',
  'ConditionExpression',
  'FilterExpression',
  'ProjectionExpression',
]);

/**
 * The request as far as IAM can see it: item attributes are cut down to the catalog's keys, and
 * expression values to those the key condition names (a query's partition key is a `dynamodb:LeadingKeys`).
 */
export function trimmed(input: Shape): Shape {
  const out: Shape = {};
  for (const [key, value] of Object.entries(input)) {
    if (DROPPED.has(key)) continue;
    if (key === 'Item' && value && typeof value === 'object') {
      const item = value as Shape;
      const { partitionKey, sortKey } = catalogLayout;
      out[key] = { [partitionKey]: item[partitionKey], [sortKey]: item[sortKey] };
    } else if (key === 'ExpressionAttributeValues' && value && typeof value === 'object') {
      const condition = String(input.KeyConditionExpression ?? '');
      out[key] = Object.fromEntries(
        Object.entries(value as Shape).filter(([name]) => condition.includes(name)),
      );
    } else if (Array.isArray(value)) {
      out[key] = value.map((v) =>
        v && typeof v === 'object' && !Array.isArray(v) ? trimmed(v as Shape) : v,
      );
    } else if (value && typeof value === 'object' && !(value instanceof Date) && !ArrayBuffer.isView(value)) {
      out[key] = trimmed(value as Shape);
    } else if (!ArrayBuffer.isView(value)) {
      out[key] = value;
    }
  }
  return out;
}
