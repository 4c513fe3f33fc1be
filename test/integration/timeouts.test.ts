import { CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsClients } from '#adapters/clients.ts';
import { EndpointTimeoutError } from '#core/model/errors.ts';
import { cli, cliProcess } from '../support/cli.ts';
import { type SilentServer, silentServer } from '../support/silent-server.ts';

let silent: SilentServer;
beforeAll(async () => {
  silent = await silentServer();
});
afterAll(() => silent.close());

/** Runs `work` with the SDK pointed at the silent server, then points it back at the emulator. */
async function againstSilent<T>(work: () => Promise<T>): Promise<T> {
  const emulator = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = silent.url;
  try {
    return await work();
  } finally {
    process.env.AWS_ENDPOINT_URL = emulator;
  }
}

describe('an endpoint that accepts connections and never answers', () => {
  it('makes the CLI exit 1 within the bound, naming the service, the endpoint and the bound', async () => {
    const started = Date.now();
    const result = await cliProcess(['generations', '--policy', 'daily'], undefined, {
      AWS_ENDPOINT_URL: silent.url,
      SNAPKEEPER_REQUEST_TIMEOUT_MS: '1500',
    });
    // Node and tsx start-up take a few seconds of this; without a bound the process would hang until killed.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `the DynamoDB endpoint ${silent.url} did not answer within 1.5 s (Query)`,
    );
    expect(result.stderr).toContain('SNAPKEEPER_REQUEST_TIMEOUT_MS');
  });

  it('sends a create call once: a timeout is ambiguous, so the SDK does not retry it', async () => {
    const before = silent.requests();
    const clients = new AwsClients({ maxAttempts: 8, timeouts: { requestMs: 500, connectionMs: 500 } });
    const creating = againstSilent(() =>
      clients.ec2('us-east-1').send(new CreateSnapshotCommand({ VolumeId: 'vol-0123456789abcdef0' })),
    );
    await expect(creating).rejects.toBeInstanceOf(EndpointTimeoutError);
    await expect(creating).rejects.toThrow(
      `the EC2 endpoint ${silent.url} did not answer within 0.5 s (CreateSnapshot)`,
    );
    expect(silent.requests() - before).toBe(1);
  });

  it('keeps the SDK error as the cause, for the log', async () => {
    const clients = new AwsClients({ timeouts: { requestMs: 300, connectionMs: 300 } });
    const error = await againstSilent(() =>
      clients.ec2('us-east-1').send(new CreateSnapshotCommand({ VolumeId: 'vol-0123456789abcdef0' })),
    ).catch((e: unknown) => e);
    expect((error as Error).cause).toMatchObject({
      message: expect.stringContaining('300 ms requestTimeout'),
    });
  });

  it('refuses a bound that is not a whole number of milliseconds, exit 2', async () => {
    process.env.SNAPKEEPER_REQUEST_TIMEOUT_MS = '30s';
    try {
      const result = await cli(['generations']);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('SNAPKEEPER_REQUEST_TIMEOUT_MS must be a whole number of milliseconds');
    } finally {
      delete process.env.SNAPKEEPER_REQUEST_TIMEOUT_MS;
    }
  });
});
