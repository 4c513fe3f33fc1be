import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startLocalStack } from '../harness/localstack.ts';
import {
  descendantsOf,
  firstJsonLine,
  isListening,
  isRunning,
  spawnEmulatorChild,
} from '../support/processes.ts';

// The LocalStack tier's own harness, on LocalStacks of their own (the tier's one is in use by other files): the
// launcher must take LocalStack and the DynamoDB Local JVM, which LocalStack starts in a session of its own, with it.

/** Makes LocalStack start DynamoDB Local, then lists what runs under the launcher. */
async function withDynamoDbLocal(endpoint: string, launcher: number) {
  const dynamo = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  await dynamo.send(new ListTablesCommand({}));
  dynamo.destroy();
  const processes = descendantsOf(launcher);
  expect(processes.map((p) => p.command)).toContain('java');
  return processes;
}

async function gone(pids: number[], port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && (pids.some(isRunning) || (await isListening(port)))) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(pids.filter(isRunning)).toEqual([]);
  expect(await isListening(port)).toBe(false);
}

describe('a LocalStack the harness started', () => {
  it('stops with LocalStack, its launcher and the DynamoDB Local JVM gone and the port free', async () => {
    const localstack = await startLocalStack({ log: () => {} });
    const launcher = localstack.pid as number;
    const processes = await withDynamoDbLocal(localstack.endpoint, launcher);
    await localstack.stop();
    await gone([launcher, ...processes.map((p) => p.pid)], localstack.port);
  });

  it('goes with a Node process that is SIGKILLed: nothing of it remains', async () => {
    const child = spawnEmulatorChild('localstack');
    const started = await firstJsonLine(child.stdout);
    const processes = await withDynamoDbLocal(started.endpoint, started.pid);
    child.kill('SIGKILL');
    await gone([started.pid, ...processes.map((p) => p.pid)], started.port);
  });
});
