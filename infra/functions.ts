import { fileURLToPath } from 'node:url';
import { type CfnResource, type Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Config } from '#core/config/config.ts';
import type { HandlerEnv } from '#handlers/env.ts';

/** AWS rejects a function whose environment (keys plus values) exceeds 4 KB. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * CloudFormation metadata naming each function's handler file (`scheduled-run`), so tests can tell the
 * template's Lambdas apart: the permission contract test checks each one's role against its recorded calls.
 */
export const HANDLER_METADATA = 'snapkeeper:handler';

/** Node.js reads this to map stack traces back to the TypeScript sources through the bundled source maps. */
const NODE_OPTIONS = '--enable-source-maps';

/**
 * The environment of every snapkeeper Lambda. Typed as `HandlerEnv`, so a variable the handlers require and
 * this file forgets fails the type check here rather than a Lambda at cold start.
 */
export function handlerEnvironment(config: Config): HandlerEnv {
  // `$schema` only helps editors; every byte counts against Lambda's 4 KB.
  const { $schema: _editorsOnly, ...forLambda } = config;
  return {
    SNAPKEEPER_CONFIG: JSON.stringify(forLambda),
    POWERTOOLS_SERVICE_NAME: 'snapkeeper',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

/**
 * What a value known only at deploy time (a token, such as a queue URL) is counted as: more than the longest SQS
 * queue URL (about 140 bytes), because the token's own text says nothing about the value's length.
 */
const DEPLOY_TIME_VALUE_BYTES = 200;

/** Fails synth, naming the culprit, when an environment would be rejected by Lambda at deploy time. */
export function assertEnvironmentFits(environment: Record<string, string>, functionName: string): void {
  const bytes = Object.entries(environment).reduce(
    (total, [key, value]) =>
      total +
      Buffer.byteLength(key) +
      (Token.isUnresolved(value) ? DEPLOY_TIME_VALUE_BYTES : Buffer.byteLength(value)),
    0,
  );
  if (bytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    throw new Error(
      `snapkeeper: the environment of the ${functionName} Lambda would be ${bytes} bytes, over AWS Lambda's ` +
        `${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit; SNAPKEEPER_CONFIG alone is ` +
        `${Buffer.byteLength(environment.SNAPKEEPER_CONFIG ?? '')} bytes. Shorten the configuration ` +
        '(fewer or shorter policies, schedules and tags).',
    );
  }
}

export interface SnapkeeperFunctionProps {
  /** Handler file under `functions/handlers/`, without the extension (`scheduled-run`). */
  readonly handler: string;
  /** What the function does, shown in the console. */
  readonly description: string;
  /** The validated configuration, passed to the function as `SNAPKEEPER_CONFIG`. */
  readonly config: Config;
  readonly memorySize: number;
  readonly timeout: Duration;
  /**
   * How long Lambda keeps retrying an asynchronous invocation of the function.
   * @default Lambda's own (6 hours)
   */
  readonly maxEventAge?: Duration;
}

/**
 * One snapkeeper Lambda: the handler bundled with the local esbuild as ESM for Node.js 22 on arm64, its own
 * role (which starts with nothing but its log group; callers add statements) and its own log group with
 * retention. The log group is explicit because the `logRetention` property deploys a custom resource, and
 * a role of our own replaces the AWS managed basic execution policy, which allows writing to any log group.
 */
export class SnapkeeperFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  private readonly environment: Record<string, string>;
  private readonly handlerName: string;

  constructor(scope: Construct, id: string, props: SnapkeeperFunctionProps) {
    super(scope, id);
    this.handlerName = props.handler;
    const environment = { ...handlerEnvironment(props.config), NODE_OPTIONS };
    assertEnvironmentFits(environment, props.handler);
    this.environment = environment;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.THREE_MONTHS,
      // Logs are evidence of what a backup run did; keep them after the stack is gone.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `snapkeeper ${props.handler} Lambda`,
    });
    // Writing its own log streams is the only permission every function needs; the group's ARN already ends
    // in `:*`, which covers its streams and nothing else.
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: fileURLToPath(new URL(`../functions/handlers/${props.handler}.ts`, import.meta.url)),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      maxEventAge: props.maxEventAge,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        // Bundle the AWS SDK too: the versions the tests ran against, not whatever the runtime ships today.
        externalModules: [],
        // Some bundled dependencies are CommonJS and call `require`, which an ES module lacks.
        banner:
          "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    (this.function.node.defaultChild as CfnResource).addMetadata(HANDLER_METADATA, props.handler);
  }

  /**
   * Adds a variable beyond those every function gets (a queue's URL, known once the queue exists), checking the
   * 4 KB limit again with it.
   */
  addEnvironment(key: keyof HandlerEnv, value: string): void {
    this.environment[key] = value;
    assertEnvironmentFits(this.environment, this.handlerName);
    this.function.addEnvironment(key, value);
  }
}
