import { GetParameterCommand, ParameterNotFound, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsOperationError, InputError, NotFoundError } from '#core/model/errors.ts';
import { MARK_KEY_ENV, MARK_KEY_MIN_BYTES, type MarkKey } from '#core/model/mark.ts';

/**
 * Where the mark key lives. The stack creates it in Secrets Manager (a generated secret, KMS-encrypted, that only
 * the roles that create or delete may read); `snapkeeper init` creates it in a sandbox as an SSM SecureString.
 * Both are read the same way, with SSM `GetParameter`: Parameter Store passes a name under
 * `/aws/reference/secretsmanager/` through to the secret (and honours the secret's IAM policy), so one client
 * and one code path serve both, with no Secrets Manager SDK in the bundle.
 */

export { MARK_KEY_ENV } from '#core/model/mark.ts';

/** The Secrets Manager secret the stack creates for the catalog `table`. */
export function markKeySecretName(table: string): string {
  return `snapkeeper/${table}/mark-key`;
}

/** The stack's secret as an SSM parameter name: what its Lambdas read. */
export function stackMarkKeyParameter(table: string): string {
  return `/aws/reference/secretsmanager/${markKeySecretName(table)}`;
}

/** The SecureString `snapkeeper init` creates in a sandbox, and where the CLI looks unless told otherwise. */
export function sandboxMarkKeyParameter(table: string): string {
  return `/snapkeeper/${table}/mark-key`;
}

/**
 * The mark key read from SSM with decryption, once: the promise is kept for the life of the process (a Lambda's
 * cold start), and dropped after a failure so the next call tries again.
 */
export class SsmMarkKey implements MarkKey {
  private read?: Promise<Uint8Array>;

  constructor(
    private readonly ssm: SSMClient,
    private readonly parameter: string,
    private readonly table: string,
  ) {}

  secret(): Promise<Uint8Array> {
    this.read ??= this.load().catch((error: unknown) => {
      this.read = undefined;
      throw error;
    });
    return this.read;
  }

  private async load(): Promise<Uint8Array> {
    let value: string | undefined;
    try {
      const response = await this.ssm.send(
        new GetParameterCommand({ Name: this.parameter, WithDecryption: true }),
      );
      value = response.Parameter?.Value;
    } catch (error) {
      if (error instanceof ParameterNotFound) throw this.missing();
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new AwsOperationError(
        'GetParameter',
        `the mark key ${this.parameter} could not be read (${detail}); the role needs to read exactly that parameter or secret`,
        { cause: error },
      );
    }
    if (value === undefined) throw this.missing();
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length < MARK_KEY_MIN_BYTES) {
      throw new InputError(
        `the mark key ${this.parameter} is ${bytes.length} bytes long; it needs at least ${MARK_KEY_MIN_BYTES}: let the stack generate it (or snapkeeper init in a sandbox) instead of writing it by hand`,
      );
    }
    return new Uint8Array(bytes);
  }

  private missing(): NotFoundError {
    return new NotFoundError(
      `the mark key ${this.parameter} does not exist: deploy the stack (it creates the secret) or run snapkeeper init in a sandbox; a CLI working on a deployed stack needs ${MARK_KEY_ENV}=${stackMarkKeyParameter(this.table)}`,
    );
  }
}
