import { describe, expect, it } from 'vitest';
import type { PermissionCall } from '../../harness/permission-recorder.ts';
import type { AuthRequest } from '../../infra/iam/auth-request.ts';
import { evaluate, type ResolvedStatement, UncheckableConditionError } from '../../infra/iam/policy.ts';
import { authRequests } from '../../infra/iam/requests.ts';

const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/catalog';

const allow = (statement: Omit<ResolvedStatement, 'Effect'>): ResolvedStatement => ({
  Effect: 'Allow',
  ...statement,
});

const request = (overrides: Partial<AuthRequest>): AuthRequest => ({
  action: 'dynamodb:PutItem',
  resource: TABLE,
  context: {},
  known: [],
  ...overrides,
});

const call = (overrides: Partial<PermissionCall>): PermissionCall => ({
  kind: 'call',
  function: 'restore-volume',
  config: 'c',
  service: 'EC2',
  action: 'CreateVolume',
  region: 'us-west-2',
  input: {},
  resources: {},
  ...overrides,
});

describe('the IAM evaluator of the permission contract test', () => {
  it('matches actions case-insensitively with wildcards, and resources with wildcards', () => {
    const statements = [allow({ Action: 'DynamoDB:Get*', Resource: 'arn:aws:dynamodb:*:*:table/cat*' })];
    expect(evaluate(statements, request({ action: 'dynamodb:GetItem' })).allowed).toBe(true);
    expect(evaluate(statements, request({ action: 'dynamodb:PutItem' })).allowed).toBe(false);
    expect(evaluate(statements, request({ action: 'dynamodb:GetItem', resource: `${TABLE}x` })).allowed).toBe(
      true,
    );
    expect(
      evaluate(statements, request({ action: 'dynamodb:GetItem', resource: 'arn:aws:s3:::catalog' })).allowed,
    ).toBe(false);
  });

  it('lets an explicit Deny win over any Allow', () => {
    const statements: ResolvedStatement[] = [
      allow({ Action: '*', Resource: '*' }),
      { Effect: 'Deny', Action: 'dynamodb:PutItem', Resource: TABLE },
    ];
    expect(evaluate(statements, request({})).allowed).toBe(false);
  });

  it('holds ForAllValues on leading keys only when every key matches, as IAM does', () => {
    const statements = [
      allow({
        Action: 'dynamodb:PutItem',
        Resource: TABLE,
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['AUDIT#*'] } },
      }),
    ];
    const put = (keys: string[]) =>
      evaluate(
        statements,
        request({ context: { 'dynamodb:LeadingKeys': keys }, known: ['dynamodb:LeadingKeys'] }),
      );
    expect(put(['AUDIT#2026-12-01']).allowed).toBe(true);
    expect(put(['GEN#gen-1']).allowed).toBe(false);
    expect(put(['AUDIT#2026-12-01', 'GEN#gen-1']).allowed).toBe(false);
  });

  it('fails a positive condition on a key the request lacks, and passes a negated one', () => {
    const tagged = (operator: string) => [
      allow({
        Action: 'ec2:DeleteSnapshot',
        Resource: '*',
        Condition: { [operator]: { 'ec2:ResourceTag/managed': 'true' } },
      }),
    ];
    const untagged = request({ action: 'ec2:DeleteSnapshot', known: ['ec2:ResourceTag/'] });
    expect(evaluate(tagged('StringEquals'), untagged).allowed).toBe(false);
    expect(evaluate(tagged('StringNotEquals'), untagged).allowed).toBe(true);
    const forged = { ...untagged, context: { 'ec2:ResourceTag/managed': ['True'] } };
    expect(evaluate(tagged('StringEquals'), forged).allowed).toBe(false);
  });

  it('refuses to guess a condition on a key the recorded call does not tell', () => {
    const statements = [
      allow({
        Action: 'dynamodb:PutItem',
        Resource: TABLE,
        Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
      }),
    ];
    expect(() => evaluate(statements, request({}))).toThrow(UncheckableConditionError);
    expect(() => evaluate(statements, request({}))).toThrow(/aws:SourceIp/);
  });
});

describe('the authorizations of a recorded call', () => {
  it('authorize each item of a transaction as its own action, with its partition key', () => {
    const requests = authRequests(
      call({
        service: 'DynamoDB',
        action: 'TransactWriteItems',
        region: 'us-east-1',
        input: {
          TransactItems: [
            { Put: { TableName: 'catalog', Item: { pk: 'VOLUME#vol-1', sk: 's' } } },
            { Update: { TableName: 'catalog', Key: { pk: 'GEN#g', sk: 'GEN' } } },
            { ConditionCheck: { TableName: 'catalog', Key: { pk: { S: 'GEN#h' } } } },
          ],
        },
      }),
    );
    expect(requests.map((r) => [r.action, r.resource, r.context['dynamodb:LeadingKeys']])).toEqual([
      ['dynamodb:PutItem', TABLE, ['VOLUME#vol-1']],
      ['dynamodb:UpdateItem', TABLE, ['GEN#g']],
      ['dynamodb:ConditionCheckItem', TABLE, ['GEN#h']],
    ]);
  });

  it('make a volume from a snapshot encrypted with an aliased key need that key through EC2 of its Region', () => {
    const requests = authRequests(
      call({
        input: {
          SnapshotId: 'snap-1',
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'm', Value: 't' }] }],
        },
        resources: {
          'us-west-2/snap-1': {
            region: 'us-west-2',
            id: 'snap-1',
            exists: true,
            tags: { m: 't' },
            kmsKeyId: 'alias/dr',
          },
        },
      }),
    );
    expect(requests.map((r) => r.action)).toEqual([
      'ec2:CreateVolume',
      'ec2:CreateTags',
      'ec2:CreateVolume',
      'kms:CreateGrant',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncryptFrom',
      'kms:ReEncryptTo',
    ]);
    expect(requests[1]?.context['ec2:CreateAction']).toEqual(['CreateVolume']);
    expect(requests[2]).toMatchObject({
      resource: 'arn:aws:ec2:us-west-2::snapshot/snap-1',
      context: { 'ec2:ResourceTag/m': ['t'] },
    });
    expect(requests[3]?.context).toMatchObject({
      'kms:ViaService': ['ec2.us-west-2.amazonaws.com'],
      'kms:ResourceAliases': ['alias/dr'],
      'kms:GrantIsForAWSResource': ['true'],
    });
  });

  it('leave a request on a resource that is gone unchecked, and a resource never looked up unknown', () => {
    const gone = authRequests(
      call({
        action: 'DeleteSnapshot',
        input: { SnapshotId: 'snap-2' },
        resources: { 'us-west-2/snap-2': { region: 'us-west-2', id: 'snap-2', exists: false, tags: {} } },
      }),
    );
    expect(gone[0]?.moot).toMatch(/does not exist/);
    const unknown = authRequests(call({ action: 'DeleteSnapshot', input: { SnapshotId: 'snap-3' } }));
    expect(unknown[0]).toMatchObject({ known: [] });
    expect(unknown[0]?.moot).toBeUndefined();
  });

  it('fail on an action they do not model rather than pass it unchecked', () => {
    expect(() => authRequests(call({ action: 'ModifySnapshotAttribute' }))).toThrow(
      /no IAM model for EC2:ModifySnapshotAttribute/,
    );
  });
});
