import { beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import type { AuthRequest } from './iam/auth-request.ts';
import { ACCOUNT } from './iam/auth-request.ts';
import { evaluate, type ResolvedStatement } from './iam/policy.ts';
import { type TemplateJson, templateRoles } from './iam/roles.ts';
import { repoConfigFile, SYNTH_TIMEOUT_MS, templateFor } from './synth.ts';

// The runbooks where operators look for them: each an SSM Automation document whose one step invokes the
// runbook's Lambda, parameters validated by pattern; the replace-volume role, which can stop, start, attach
// and detach only on instances snapkeeper backs up; and the restore-instance role, which launches only from
// snapkeeper's AMIs, only instances born tagged as its own, and terminates nothing else.

interface AutomationDocument {
  schemaVersion: string;
  parameters: Record<string, { type: string; allowedPattern?: string; default?: unknown }>;
  mainSteps: { action: string; maxAttempts: number; inputs: { FunctionName: unknown; Payload: string } }[];
}

let config: Config;
let template: TemplateJson;
let roles: Map<string, ResolvedStatement[]>;
beforeAll(async () => {
  config = await loadConfigFile(repoConfigFile);
  template = templateFor(config);
  roles = templateRoles(template, config.region).byHandler;
}, SYNTH_TIMEOUT_MS);

/** Whether the role of `handler`'s Lambda allows a request (the contract test's IAM evaluator). */
function allowedFor(handler: string) {
  return (request: Partial<AuthRequest> & Pick<AuthRequest, 'action' | 'resource'>) => {
    const context = request.context ?? {};
    const statements = roles.get(handler);
    if (!statements) throw new Error(`the stack has no ${handler} Lambda`);
    return evaluate(statements, { known: Object.keys(context), ...request, context }).allowed;
  };
}

/** An existing resource carrying `tags`. */
const tagged = (tags: Record<string, string>) => ({
  context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`ec2:ResourceTag/${k}`, [v]])),
  known: ['ec2:ResourceTag/'],
});

/** The Automation document whose step invokes the Lambda of `handler`. */
function documentOf(handler: string): AutomationDocument {
  const resources = Object.entries(template.Resources) as [
    string,
    { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> },
  ][];
  const logicalId = resources.find(
    ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['snapkeeper:handler'] === handler,
  )?.[0];
  const documents = resources
    .filter(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties?.DocumentType === 'Automation')
    .map(([, r]) => r.Properties?.Content as AutomationDocument);
  const found = documents.find(
    (d) =>
      JSON.stringify(d.mainSteps[0]?.inputs.FunctionName) ===
      JSON.stringify({ 'Fn::GetAtt': [logicalId, 'Arn'] }),
  );
  if (!logicalId || !found) throw new Error(`no Automation document invokes the ${handler} Lambda`);
  return found;
}

describe.each([
  ['restore-volume', 'volumeId', 'VolumeId', 'vol-[0-9a-f]{8,17}'],
  ['replace-volume', 'volumeId', 'VolumeId', 'vol-[0-9a-f]{8,17}'],
  ['restore-instance', 'instanceId', 'InstanceId', 'i-[0-9a-f]{8,17}'],
])('the %s Automation document', (handler, field, parameter, pattern) => {
  it('invokes the runbook Lambda once, synchronously, with the request its parameters make', () => {
    const document = documentOf(handler);
    expect(document.schemaVersion).toBe('0.3');
    expect(document.mainSteps).toHaveLength(1);
    expect(document.mainSteps[0]).toMatchObject({
      action: 'aws:invokeLambdaFunction',
      maxAttempts: 1,
      inputs: { InvocationType: 'RequestResponse' },
    });
    expect(
      document.mainSteps[0]?.inputs.Payload.startsWith(`{"automation":{"${field}":"{{ ${parameter} }}"`),
    ).toBe(true);
    expect(document.mainSteps[0]?.inputs.Payload).toContain('{{ automation:EXECUTION_ID }}');
  });

  it('validates every string parameter with an allowedPattern that admits no quote or brace', () => {
    const { parameters } = documentOf(handler);
    expect(parameters[parameter]?.allowedPattern).toContain(pattern);
    for (const [name, parameter] of Object.entries(parameters)) {
      if (parameter.type !== 'String') continue;
      expect(parameter.allowedPattern, name).toBeDefined();
      expect(new RegExp(parameter.allowedPattern as string).test('x"}'), name).toBe(false);
    }
  });
});

describe('the replace-volume role', () => {
  const instance = `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0123456789abcdef0`;
  const volume = `arn:aws:ec2:us-east-1:${ACCOUNT}:volume/vol-0123456789abcdef0`;
  const allowed = allowedFor('replace-volume');

  it('stops, starts, attaches and detaches only on instances snapkeeper backs up', () => {
    for (const action of [
      'ec2:StopInstances',
      'ec2:StartInstances',
      'ec2:AttachVolume',
      'ec2:DetachVolume',
    ]) {
      expect(
        allowed({ action, resource: instance, ...tagged({ 'snapkeeper:policy': 'daily' }) }),
        action,
      ).toBe(true);
      expect(allowed({ action, resource: instance, ...tagged({ Name: 'web' }) }), action).toBe(false);
    }
    expect(
      allowed({
        action: 'ec2:TerminateInstances',
        resource: instance,
        ...tagged({ 'snapkeeper:policy': 'daily' }),
      }),
    ).toBe(false);
  });

  it('tags an existing volume with snapkeeper:replaced-by only, and deletes only volumes snapkeeper created', () => {
    // Tagging an existing volume: no ec2:CreateAction, as outside a create call.
    const writing = (keys: string[]) => ({
      context: { 'aws:TagKeys': keys },
      known: ['aws:TagKeys', 'ec2:CreateAction'],
    });
    expect(
      allowed({ action: 'ec2:CreateTags', resource: volume, ...writing(['snapkeeper:replaced-by']) }),
    ).toBe(true);
    expect(allowed({ action: 'ec2:CreateTags', resource: volume, ...writing(['snapkeeper:managed']) })).toBe(
      false,
    );
    expect(
      allowed({ action: 'ec2:DeleteVolume', resource: volume, ...tagged({ 'snapkeeper:managed': 'true' }) }),
    ).toBe(true);
    expect(allowed({ action: 'ec2:DeleteVolume', resource: volume, ...tagged({ App: 'db' }) })).toBe(false);
  });

  it('writes only under the audit prefix in the catalog', () => {
    const table = `arn:aws:dynamodb:${config.region}:${ACCOUNT}:table/${config.catalog.table}`;
    const put = (key: string) =>
      allowed({ action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': [key] } });
    expect(put('AUDIT#REQUEST#replace-volume#r-1')).toBe(true);
    expect(put('GEN#gen-20261201T010000-0123456789')).toBe(false);
  });
});

describe('the restore-instance role', () => {
  const at = (type: string, id: string, account = ACCOUNT) =>
    `arn:aws:ec2:us-east-1:${account}:${type}/${id}`;
  const allowed = allowedFor('restore-instance');
  const requesting = (tags: Record<string, string>) => ({
    context: {
      ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, [v]])),
      'aws:TagKeys': Object.keys(tags),
    },
    known: ['aws:RequestTag/', 'aws:TagKeys'],
  });
  const ours = { 'snapkeeper:managed': 'true' };

  it('launches only from an AMI snapkeeper made, and only an instance born tagged as its own', () => {
    const launch = 'ec2:RunInstances';
    expect(
      allowed({ action: launch, resource: at('image', 'ami-0123456789abcdef0', ''), ...tagged(ours) }),
    ).toBe(true);
    expect(
      allowed({
        action: launch,
        resource: at('image', 'ami-0123456789abcdef0', ''),
        ...tagged({ Name: 'x' }),
      }),
    ).toBe(false);
    expect(allowed({ action: launch, resource: at('instance', 'new'), ...requesting(ours) })).toBe(true);
    expect(allowed({ action: launch, resource: at('instance', 'new'), ...requesting({ Name: 'x' }) })).toBe(
      false,
    );
    expect(allowed({ action: launch, resource: at('subnet', 'subnet-0123456789abcdef0') })).toBe(true);
  });

  it('terminates, attaches and deletes only what carries snapkeeper:managed=true', () => {
    for (const [action, type] of [
      ['ec2:TerminateInstances', 'instance'],
      ['ec2:AttachVolume', 'instance'],
      ['ec2:AttachVolume', 'volume'],
      ['ec2:DeleteVolume', 'volume'],
    ] as const) {
      expect(allowed({ action, resource: at(type, 'x'), ...tagged(ours) }), `${action} ${type}`).toBe(true);
      expect(
        allowed({ action, resource: at(type, 'x'), ...tagged({ 'snapkeeper:policy': 'daily' }) }),
        `${action} ${type}`,
      ).toBe(false);
    }
    for (const action of [
      'ec2:StopInstances',
      'ec2:DetachVolume',
      'ec2:DeleteSnapshot',
      'ec2:DeregisterImage',
    ]) {
      expect(allowed({ action, resource: at('instance', 'x'), ...tagged(ours) }), action).toBe(false);
    }
  });

  it('passes a role to EC2 only', () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/app`;
    const passed = (service: string) =>
      allowed({ action: 'iam:PassRole', resource: role, context: { 'iam:PassedToService': [service] } });
    expect(passed('ec2.amazonaws.com')).toBe(true);
    expect(passed('lambda.amazonaws.com')).toBe(false);
  });
});
