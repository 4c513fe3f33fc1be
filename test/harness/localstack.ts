import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { loopbackHost, tailOf, unrefChild, urlHost } from '#cli/sandbox/moto.ts';
import { kv, stderrLog } from '#cli/sandbox/moto-python.ts';
import type { Emulator, StartOptions } from './emulator.ts';
import { type LocalStackParts, localStackParts } from './localstack-install.ts';

const here = fileURLToPath(new URL('./localstack/', import.meta.url));
const STARTUP_TIMEOUT_MS = 180_000;
/** The launcher gives LocalStack 5 s after SIGTERM, then kills what is left; this is the fallback after that. */
const STOP_TIMEOUT_MS = 15_000;
/** What the integration tier uses; anything else stays off (Lambda needs Docker). */
const SERVICES = 's3,dynamodb,ec2,ssm,sts,iam,kms,sqs';
/** The init hooks in `localstack/` that LocalStack runs once ready; the harness waits for all of them. */
const READY_HOOKS = ['reset_hook.py', 'patches_hook.py'];
/** Written before every reset and read after it: a reset that leaves it behind did not reset. */
const SENTINEL = '/snapkeeper/harness/reset-sentinel';
const SENTINEL_TABLE = 'snapkeeper-harness-reset-sentinel';

/**
 * Starts LocalStack core in host mode (no Docker) on a free loopback port, with its state in a fresh temporary
 * FILESYSTEM_ROOT seeded so nothing is downloaded: DynamoDB Local from npm, the agent jar, the JDK as `java/21`,
 * and the init hooks (the reset endpoint, the moto patch). Resolves once the hooks have run. Its launcher (localstack/launcher.py) takes
 * LocalStack and the JVM down when stop() is called or this process dies.
 */
export async function startLocalStack(opts: StartOptions = {}): Promise<Emulator> {
  const log = opts.log ?? stderrLog;
  const parts = await localStackParts(log);
  const host = await loopbackHost();
  const port = await freePort(host);
  const root = await mkdtemp(join(tmpdir(), 'snapkeeper-localstack-'));
  await seed(root, parts);
  const started = Date.now();
  const child = spawn(parts.python, [join(here, 'launcher.py')], {
    // A process group of its own, so the launcher can be killed with everything in it as a last resort.
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: settings(host, port, root),
  });
  const tail = tailOf(child);
  child.stdout.resume();
  const stop = async () => {
    await stopLauncher(child);
    await rm(root, { recursive: true, force: true });
  };
  try {
    const endpoint = `http://localhost:${port}`;
    await waitReady(`http://${urlHost(host)}:${port}`, child, tail);
    log(kv('LocalStack started', { endpoint, pid: child.pid, ms: Date.now() - started }));
    unrefChild(child);
    return { endpoint, port, managed: true, pid: child.pid, reset: () => resetLocalStack(endpoint), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Resets LocalStack through the reset hook and proves it: the answer must carry the hook's marker (LocalStack's
 * catch-all answers an unknown path with an empty 200), and sentinels written before (an SSM parameter, and a
 * DynamoDB table in another Region, since the hook empties DynamoDB its own way) must be gone.
 */
export async function resetLocalStack(endpoint: string): Promise<void> {
  const options = { endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 };
  const ssm = new SSMClient({ ...options, region: 'us-east-1' });
  const dynamo = new DynamoDBClient({ ...options, region: 'us-west-2' });
  try {
    await ssm.send(
      new PutParameterCommand({ Name: SENTINEL, Value: 'reset me', Type: 'String', Overwrite: true }),
    );
    await dynamo
      .send(
        new CreateTableCommand({
          TableName: SENTINEL_TABLE,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }],
        }),
      )
      .catch((error: Error) => {
        if (error.name !== 'ResourceInUseException') throw error;
      });
    const response = await fetch(new URL('/_localstack/state/reset', endpoint), { method: 'POST' });
    const body = await response.text();
    if (!response.ok || markerOf(body) !== 'snapkeeper') {
      throw new Error(
        `LocalStack at ${endpoint} did not reset: POST /_localstack/state/reset answered ${response.status} ${JSON.stringify(body.slice(0, 200))} without the reset hook's marker; is test/harness/localstack/reset_hook.py in its init/ready.d?`,
      );
    }
    const survivors = [
      (await gone(ssm.send(new GetParameterCommand({ Name: SENTINEL })), 'ParameterNotFound'))
        ? []
        : [`parameter ${SENTINEL}`],
      (await gone(
        dynamo.send(new DescribeTableCommand({ TableName: SENTINEL_TABLE })),
        'ResourceNotFoundException',
      ))
        ? []
        : [`table ${SENTINEL_TABLE} in us-west-2`],
    ].flat();
    if (survivors.length > 0) {
      throw new Error(
        `LocalStack at ${endpoint} answered the reset but kept state: ${survivors.join(' and ')} survived it`,
      );
    }
  } finally {
    ssm.destroy();
    dynamo.destroy();
  }
}

/** Whether a read of a sentinel failed with `notFound`, i.e. the sentinel is gone. */
async function gone(read: Promise<unknown>, notFound: string): Promise<boolean> {
  return read.then(
    () => false,
    (error: Error) => {
      if (error.name === notFound) return true;
      throw error;
    },
  );
}

function markerOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { reset?: unknown }).reset;
  } catch {
    return undefined;
  }
}

/** The settings measured on the build machines (see docs/emulator.md, "LocalStack tier"). */
function settings(host: string, port: number, root: string): NodeJS.ProcessEnv {
  const { PATH, HOME, LANG } = process.env;
  return {
    PATH,
    HOME,
    LANG,
    PYTHONUNBUFFERED: '1',
    OVERRIDE_IN_DOCKER: '0',
    // hypercorn binds the host given here; the default server binds every interface.
    GATEWAY_LISTEN: `${urlHost(host)}:${port}`,
    GATEWAY_SERVER: 'hypercorn',
    LOCALSTACK_HOST: `localhost:${port}`,
    DNS_ADDRESS: '0',
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
    FILESYSTEM_ROOT: root,
    SERVICES,
    MOTO_EC2_LOAD_DEFAULT_AMIS: 'false',
    // Queue URLs on the endpoint's path, not on hostnames that need public DNS.
    SQS_ENDPOINT_STRATEGY: 'path',
    // A line per request costs CPU nobody spends reading it; warnings and errors stay for the stderr tail.
    LS_LOG: 'warn',
    // DynamoDB Local keeps tables in memory, not in SQLite files: every file starts from a reset anyway.
    DYNAMODB_IN_MEMORY: '1',
    // Where patches_hook.py finds moto_patches.py (beside the moto launcher, which the sandbox shares).
    SNAPKEEPER_HARNESS_DIR: fileURLToPath(new URL('../../functions/cli/sandbox/', import.meta.url)),
  };
}

/** Lays out what LocalStack would otherwise download, where it looks for it, and the reset hook. */
async function seed(root: string, parts: LocalStackParts): Promise<void> {
  const lib = join(root, 'var', 'lib', 'localstack', 'lib');
  const ddb = join(lib, 'dynamodb-local', '2');
  const readyHooks = join(root, 'etc', 'localstack', 'init', 'ready.d');
  await mkdir(ddb, { recursive: true });
  await mkdir(join(lib, 'java'), { recursive: true });
  await mkdir(readyHooks, { recursive: true });
  await symlink(join(parts.dynamoDbLocal, 'DynamoDBLocal.jar'), join(ddb, 'DynamoDBLocal.jar'));
  await symlink(join(parts.dynamoDbLocal, 'DynamoDBLocal_lib'), join(ddb, 'DynamoDBLocal_lib'));
  await symlink(parts.agentJar, join(ddb, 'ddb-local-loader-0.1.jar'));
  await symlink(parts.jdkHome, join(lib, 'java', '21'));
  for (const hook of READY_HOOKS) await symlink(join(here, hook), join(readyHooks, hook));
}

async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (!address || typeof address === 'string') throw new Error('no free loopback port');
  return address.port;
}

/** Health answers before the ready hooks have run; the tier is ready once every hook has. */
async function waitReady(base: string, child: ChildProcessWithoutNullStreams, tail: () => string) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const response = await fetch(`${base}/_localstack/init`);
      const init = (await response.json()) as {
        completed?: { READY?: boolean };
        scripts?: { state?: string }[];
      };
      const states = (init.scripts ?? []).map((script) => script.state);
      if (states.includes('ERROR')) throw new Error(`an init hook failed: ${JSON.stringify(init.scripts)}`);
      const allRan = states.length === READY_HOOKS.length && states.every((state) => state === 'SUCCESSFUL');
      if (init.completed?.READY && allRan) return;
      last = `init ${JSON.stringify(init)}`;
    } catch (error) {
      if ((error as Error).message.startsWith('an init hook failed')) throw withTail(error as Error, tail);
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw withTail(new Error(`LocalStack did not become ready (${last})`), tail);
}

function withTail(error: Error, tail: () => string): Error {
  return new Error(`${error.message}\n--- LocalStack output (tail) ---\n${tail()}`);
}

/** Closing stdin asks the launcher to stop everything; SIGKILL to its process group follows if it has not. */
async function stopLauncher(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin.end();
  const timer = setTimeout(() => {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
