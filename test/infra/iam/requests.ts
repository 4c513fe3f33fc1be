import { catalogLayout } from '#adapters/catalog/layout.ts';
import { markKeySecretName } from '#adapters/mark-key.ts';
import type { Shape } from '../../harness/faults.ts';
import type { PermissionCall } from '../../harness/permission-recorder.ts';
import { ACCOUNT, type AuthRequest, simple, unmodelled } from './auth-request.ts';
import { ec2Requests } from './ec2-requests.ts';

/** The authorizations a recorded call needs, after the Service Authorization Reference of each service. */
export function authRequests(call: PermissionCall): AuthRequest[] {
  switch (call.service) {
    case 'EC2':
      return ec2Requests(call);
    case 'DynamoDB':
      return dynamoRequests(call);
    case 'S3':
      return s3Requests(call);
    case 'SQS':
      return sqsRequests(call);
    case 'SSM':
      return ssmRequests(call);
    case 'STS':
      // GetCallerIdentity needs no permission.
      if (call.action === 'GetCallerIdentity') return [];
  }
  throw unmodelled(call);
}

const PARTITION_KEY = catalogLayout.partitionKey;

/** A DynamoDB key or item's partition key value: `dynamodb:LeadingKeys`. */
function leadingKey(item: unknown): string[] {
  const value = (item as Shape | undefined)?.[PARTITION_KEY];
  if (typeof value === 'string') return [value];
  // A marshalled attribute value.
  const s = (value as Shape | undefined)?.S;
  return typeof s === 'string' ? [s] : [];
}

/** The partition key value a key condition names (`pk = :pk`, `#pk = :v`), if it can be read. */
function queriedKey(input: Shape): string[] {
  const condition = String(input.KeyConditionExpression ?? '');
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  const index = String(input.IndexName ?? '');
  for (const match of condition.matchAll(/([#\w]+)\s*=\s*(:\w+)/g)) {
    const attribute = names[match[1] ?? ''] ?? match[1];
    // The table's partition key, or an index's (open-work: openPk, expiry: expiryPk).
    if (attribute === PARTITION_KEY || (index && /Pk$/.test(attribute ?? ''))) {
      return leadingKey({ [PARTITION_KEY]: values[match[2] ?? ''] });
    }
  }
  return [];
}

function dynamoRequests(call: PermissionCall): AuthRequest[] {
  const { input, region } = call;
  const table = (name: unknown, index?: unknown) =>
    `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${String(name)}${index ? `/index/${String(index)}` : ''}`;
  const item = (action: string, name: unknown, keys: string[]): AuthRequest =>
    simple(`dynamodb:${action}`, table(name), { 'dynamodb:LeadingKeys': keys });
  switch (call.action) {
    case 'GetItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return [item(call.action, input.TableName, leadingKey(input.Key))];
    case 'PutItem':
      return [item('PutItem', input.TableName, leadingKey(input.Item))];
    case 'Query':
      return [
        simple('dynamodb:Query', table(input.TableName, input.IndexName), {
          'dynamodb:LeadingKeys': queriedKey(input),
        }),
      ];
    case 'DescribeTable':
      return [simple('dynamodb:DescribeTable', table(input.TableName))];
    case 'BatchGetItem':
      return Object.entries((input.RequestItems ?? {}) as Record<string, { Keys?: unknown[] }>).map(
        ([name, { Keys = [] }]) => item('BatchGetItem', name, Keys.flatMap(leadingKey)),
      );
    case 'BatchWriteItem':
      return Object.entries((input.RequestItems ?? {}) as Record<string, Shape[]>).map(([name, writes]) =>
        item(
          'BatchWriteItem',
          name,
          writes.flatMap((w) =>
            leadingKey(
              (w.PutRequest as Shape | undefined)?.Item ?? (w.DeleteRequest as Shape | undefined)?.Key,
            ),
          ),
        ),
      );
    case 'TransactWriteItems':
    case 'TransactGetItems':
      // Each item of a transaction is authorized as the single-item action it performs.
      return ((input.TransactItems ?? []) as Shape[]).flatMap((entry) =>
        Object.entries(entry).map(([kind, body]) => {
          const action = TRANSACT_ACTIONS[kind];
          if (!action) throw unmodelled({ ...call, action: `${call.action}.${kind}` });
          const b = body as Shape;
          return item(action, b.TableName, leadingKey(b.Item ?? b.Key));
        }),
      );
  }
  throw unmodelled(call);
}

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

function s3Requests(call: PermissionCall): AuthRequest[] {
  const { input } = call;
  const bucket = `arn:aws:s3:::${String(input.Bucket)}`;
  const object = `${bucket}/${String(input.Key)}`;
  switch (call.action) {
    case 'PutObject': {
      const encryption = input.ServerSideEncryption;
      return [
        {
          ...simple(
            's3:PutObject',
            object,
            encryption ? { 's3:x-amz-server-side-encryption': [String(encryption)] } : {},
          ),
          known: ['s3:x-amz-server-side-encryption'],
        },
      ];
    }
    case 'GetObject':
    case 'HeadObject':
      return [simple('s3:GetObject', object)];
    case 'ListObjectsV2':
    case 'ListObjects':
      return [
        {
          ...simple('s3:ListBucket', bucket, input.Prefix ? { 's3:prefix': [String(input.Prefix)] } : {}),
          known: ['s3:prefix'],
        },
      ];
  }
  throw unmodelled(call);
}

const SQS_ACTIONS: Record<string, string> = {
  SendMessage: 'sqs:SendMessage',
  SendMessageBatch: 'sqs:SendMessage',
  ReceiveMessage: 'sqs:ReceiveMessage',
  DeleteMessage: 'sqs:DeleteMessage',
  DeleteMessageBatch: 'sqs:DeleteMessage',
  ChangeMessageVisibility: 'sqs:ChangeMessageVisibility',
  ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
  GetQueueAttributes: 'sqs:GetQueueAttributes',
};

function sqsRequests(call: PermissionCall): AuthRequest[] {
  const action = SQS_ACTIONS[call.action];
  if (!action) throw unmodelled(call);
  // `<endpoint>/<account>/<name>`, from AWS and from the emulator alike.
  const [account, name] = new URL(String(call.input.QueueUrl)).pathname.split('/').filter(Boolean);
  return [simple(action, `arn:aws:sqs:${call.region}:${account}:${name}`)];
}

function ssmRequests(call: PermissionCall): AuthRequest[] {
  const { input, region } = call;
  switch (call.action) {
    case 'GetCommandInvocation':
    case 'DescribeInstanceInformation':
    case 'ListCommandInvocations':
      return [simple(`ssm:${call.action}`, '*')];
    case 'SendCommand': {
      const name = String(input.DocumentName);
      // AWS-owned documents (`AWS-…`, `AWSEC2-…`, `Amazon…`) have no account in their ARN.
      const owner = /^(AWS|Amazon)/.test(name) ? '' : ACCOUNT;
      const document = name.startsWith('arn:') ? name : `arn:aws:ssm:${region}:${owner}:document/${name}`;
      const instances = ((input.InstanceIds ?? []) as string[]).map((id): AuthRequest => {
        const facts = call.resources[`${region}/${id}`];
        return {
          action: 'ssm:SendCommand',
          resource: `arn:aws:ec2:${region}:${ACCOUNT}:instance/${id}`,
          context: Object.fromEntries(
            Object.entries(facts?.tags ?? {}).map(([k, v]) => [`ssm:resourceTag/${k}`, [v]]),
          ),
          known: facts ? ['ssm:resourceTag/'] : [],
          ...(facts && !facts.exists ? { moot: `instance ${id} does not exist` } : {}),
        };
      });
      return [simple('ssm:SendCommand', document), ...instances];
    }
    case 'GetParameter':
      return parameterRequests(String(input.Name), region);
  }
  throw unmodelled(call);
}

/**
 * Reading a parameter. The mark key is the one parameter the Lambdas read: in the tests, the sandbox's SecureString
 * (`/snapkeeper/<table>/mark-key`), which stands for what the same Lambda reads in AWS, the stack's secret through
 * Parameter Store (`SNAPKEEPER_MARK_KEY_PARAMETER`). Parameter Store checks both the parameter and the secret.
 */
function parameterRequests(name: string, region: string): AuthRequest[] {
  const table = /^\/snapkeeper\/(.+)\/mark-key$/.exec(name)?.[1];
  const secret = table
    ? markKeySecretName(table)
    : /^\/aws\/reference\/secretsmanager\/(.+)$/.exec(name)?.[1];
  if (!secret) return [simple('ssm:GetParameter', `arn:aws:ssm:${region}:${ACCOUNT}:parameter${name}`)];
  return [
    simple(
      'ssm:GetParameter',
      `arn:aws:ssm:${region}:${ACCOUNT}:parameter/aws/reference/secretsmanager/${secret}`,
    ),
    // Secrets Manager ends a secret's ARN with six random characters.
    simple(
      'secretsmanager:GetSecretValue',
      `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${secret}-Ab12Cd`,
    ),
  ];
}
