import { type InjectedErrorShape, InjectedServiceError } from './fault-primitives.ts';

type ExceptionClass = new (options: Record<string, unknown>) => Error;

/** Client packages by the service name the fault layer derives from `clientName`, loaded only when needed. */
const clientModules: Record<string, () => Promise<Record<string, unknown>>> = {
  EC2: () => import('@aws-sdk/client-ec2'),
  SSM: () => import('@aws-sdk/client-ssm'),
  DynamoDB: () => import('@aws-sdk/client-dynamodb'),
  S3: () => import('@aws-sdk/client-s3'),
  SQS: () => import('@aws-sdk/client-sqs'),
  STS: () => import('@aws-sdk/client-sts'),
};

/**
 * Builds the error the SDK itself would throw: the service's modeled exception class when it has one of that
 * name (SSM's `InvocationDoesNotExist`), else its base `…ServiceException` with the name set (all EC2 errors),
 * so `instanceof` checks in product code behave as against AWS. Unknown services get a duck-typed error that
 * Smithy's `instanceof ServiceException` still accepts. Every injected error carries `injected: true`.
 */
export async function sdkError(shape: InjectedErrorShape, requestId: string): Promise<Error> {
  const fallback = new InjectedServiceError(shape, requestId);
  const load = shape.service ? clientModules[shape.service] : undefined;
  if (!load) return fallback;
  const sdk = await load();
  const base = sdk[`${shape.service}ServiceException`] as ExceptionClass | undefined;
  if (!base) return fallback;
  const modeled = sdk[shape.name];
  const fields = {
    $fault: fallback.$fault,
    $metadata: fallback.$metadata,
    message: fallback.message,
  };
  const error = isSubclass(modeled, base) ? new modeled(fields) : new base({ ...fields, name: shape.name });
  // Modeled classes fix their own $fault; the requested shape wins so tests get what they asked for.
  return Object.assign(error, {
    ...fields,
    Code: shape.name,
    injected: true,
    ...(fallback.$retryable ? { $retryable: fallback.$retryable } : {}),
  });
}

function isSubclass(candidate: unknown, base: ExceptionClass): candidate is ExceptionClass {
  return typeof candidate === 'function' && candidate.prototype instanceof base;
}

/** True for errors the fault layer made up, as opposed to ones the emulator returned. */
export function isInjected(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { injected?: unknown }).injected === true;
}
