import type { Config } from '#core/config/config.ts';
import { AwsOperationError, AwsSetupError } from '#core/model/errors.ts';

/**
 * The AWS failures a person fixes in their environment, not in snapkeeper, said as what to do: no credentials, a
 * missing catalog table, an endpoint whose answer is not AWS's. Anything else passes unchanged.
 */
export function actionable(error: unknown, config: Config, env: Record<string, string | undefined>): unknown {
  const chain = causes(error);
  const operation =
    chain.find((e): e is AwsOperationError => e instanceof AwsOperationError)?.operation ?? '';
  const sdk = chain.find((e) => '$metadata' in e) as
    | (Error & { $metadata?: { httpStatusCode?: number } })
    | undefined;
  const at = env.AWS_ENDPOINT_URL ? ` (AWS_ENDPOINT_URL is ${env.AWS_ENDPOINT_URL})` : '';

  if (chain.some((e) => e.name === 'CredentialsProviderError')) {
    return new AwsSetupError(
      `no AWS credentials found${at}: pass --profile <name> (or set AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sign in with aws sso login`,
      { cause: error },
    );
  }
  if (operation.startsWith('catalog:') && chain.some((e) => e.name === 'ResourceNotFoundException')) {
    return new AwsSetupError(
      `the catalog table "${config.catalog.table}" does not exist in ${config.region}${at}: check --region and catalog.table, read the manifests with --from-manifests (generations, restore), or deploy the stack there (for a sandbox: snapkeeper init)`,
      { cause: error },
    );
  }
  const status = sdk?.$metadata?.httpStatusCode;
  if (sdk && status && status >= 400 && notAwsAnswer(sdk)) {
    return new AwsSetupError(
      `${serviceOf(operation)} answered HTTP ${status} with a body that is not an AWS answer (an HTML page or a proxy's text)${at}: check that the endpoint is AWS or an emulator serving this service, and any proxy in between`,
      { cause: error },
    );
  }
  return error;
}

function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e = error; e instanceof Error && chain.length < 6; e = e.cause) chain.push(e);
  return chain;
}

/** The SDK could not read the answer: JSON services say "Deserialization error", query and XML ones "Unknown". */
function notAwsAnswer(error: Error): boolean {
  return (
    /Deserialization error/.test(error.message) || error.name === 'Unknown' || error.name === 'UnknownError'
  );
}

function serviceOf(operation: string): string {
  const [service] = operation.split(':');
  if (service === 'catalog') return 'the catalog';
  if (service === 'manifests') return 'the manifest bucket';
  return operation ? `AWS (${operation})` : 'AWS';
}
