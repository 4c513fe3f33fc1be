import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { InputError } from '#core/model/errors.ts';
import { ThrottlingOnlyRetries } from './create-retries.ts';
import { ThrottleCounter } from './throttling.ts';
import {
  type AnyPluggable,
  DEFAULT_TIMEOUTS,
  requestHandlerOptions,
  type Timeouts,
  timeoutTranslation,
} from './timeouts.ts';

/** How every AWS client of snapkeeper is built. Endpoints and credentials always come from the standard AWS
 * environment (`AWS_ENDPOINT_URL`, profiles); nothing here knows about an emulator. */
export interface ClientOptions {
  /** Extra SDK middleware on every client: the seam through which tests and benchmarks inject faults. */
  middleware?: AnyPluggable[];
  /** SDK attempts per call. EC2 throttles by token bucket, so the default is generous and adaptive. */
  maxAttempts?: number;
  retryMode?: 'standard' | 'adaptive';
  /** Bounds on every call; default 30 s a request and 10 s a connection. A timed-out call is not retried. */
  timeouts?: Partial<Timeouts>;
  /** The shared-config profile that signs every call (the CLI's `--profile`); default the SDK's own choice. */
  profile?: string;
}

const ClientEnvSchema = z.object({
  SNAPKEEPER_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe('How long one AWS call may take, in milliseconds (default 30000).'),
});

/** Client options the environment sets: SNAPKEEPER_REQUEST_TIMEOUT_MS bounds every AWS call. */
export function clientOptionsFromEnv(env: Record<string, string | undefined>): ClientOptions {
  const parsed = ClientEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new InputError(
      `SNAPKEEPER_REQUEST_TIMEOUT_MS must be a whole number of milliseconds, 1 or more (e.g. 30000); got "${env.SNAPKEEPER_REQUEST_TIMEOUT_MS}"`,
    );
  }
  const requestMs = parsed.data.SNAPKEEPER_REQUEST_TIMEOUT_MS;
  if (requestMs === undefined) return {};
  return { timeouts: { requestMs, connectionMs: Math.min(DEFAULT_TIMEOUTS.connectionMs, requestMs) } };
}

interface SdkClient {
  middlewareStack: { use(pluggable: AnyPluggable): void };
}

/** One client per service and Region, built on first use and then reused (Lambda keeps them warm). */
export class AwsClients {
  private readonly cache = new Map<string, unknown>();
  private readonly timeouts: Timeouts;
  private readonly middleware: AnyPluggable[];
  /** Throttles the SDK retried on any of these clients: a run's "throttled calls absorbed". */
  readonly throttles = new ThrottleCounter();

  constructor(private readonly options: ClientOptions = {}) {
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    // The counter comes last: of the middleware placed just inside the retry loop, the last added is outermost,
    // so it sees every attempt, the faults a test injects included.
    this.middleware = [
      timeoutTranslation(this.timeouts),
      ...(options.middleware ?? []),
      this.throttles.pluggable(),
    ];
  }

  ec2(region: string): EC2Client {
    return this.cached('ec2', region, (config) => new EC2Client(config));
  }

  /** The EC2 client for snapshot and AMI creates: it retries throttling only, never an ambiguous failure. */
  ec2Creates(region: string): EC2Client {
    return this.cached(
      'ec2-creates',
      region,
      (config) => new EC2Client({ ...config, retryStrategy: new ThrottlingOnlyRetries(config.maxAttempts) }),
    );
  }

  ssm(region: string): SSMClient {
    return this.cached('ssm', region, (config) => new SSMClient(config));
  }

  s3(region: string): S3Client {
    // Path-style keeps bucket names out of host names, which works for AWS and for local endpoints alike.
    return this.cached('s3', region, (config) => new S3Client({ ...config, forcePathStyle: true }));
  }

  sts(region: string): STSClient {
    return this.cached('sts', region, (config) => new STSClient(config));
  }

  sqs(region: string): SQSClient {
    return this.cached('sqs', region, (config) => new SQSClient(config));
  }

  dynamo(region: string): DynamoDBDocumentClient {
    return this.cached('dynamo', region, (config) =>
      DynamoDBDocumentClient.from(this.withMiddleware(new DynamoDBClient(config)), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    );
  }

  private cached<T>(
    service: string,
    region: string,
    build: (config: {
      region: string;
      maxAttempts: number;
      retryMode: string;
      requestHandler: ReturnType<typeof requestHandlerOptions>;
      profile?: string;
    }) => T,
  ): T {
    const key = `${service}:${region}`;
    let client = this.cache.get(key) as T | undefined;
    if (!client) {
      client = build({
        region,
        maxAttempts: this.options.maxAttempts ?? 8,
        retryMode: this.options.retryMode ?? 'adaptive',
        requestHandler: requestHandlerOptions(this.timeouts),
        ...(this.options.profile ? { profile: this.options.profile } : {}),
      });
      if (service !== 'dynamo') this.withMiddleware(client as SdkClient);
      this.cache.set(key, client);
    }
    return client;
  }

  /** The document client shares its inner client's stack, so `dynamo` adds middleware to the inner one only. */
  private withMiddleware<T extends SdkClient>(client: T): T {
    for (const pluggable of this.middleware) client.middlewareStack.use(pluggable);
    return client;
  }
}
