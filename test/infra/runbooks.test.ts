import { beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import type { AuthRequest } from './iam/auth-request.ts';
import { ACCOUNT } from './iam/auth-request.ts';
import { evaluate, type ResolvedStatement } from './iam/policy.ts';
import { type TemplateJson, templateRoles } from './iam/roles.ts';
import { repoConfigFile, SYNTH_TIMEOUT_MS, templateFor } from './synth.ts';

// The runbooks where operators look for them: each an SSM Automation document whose one step invokes the
// runbook's Lambda, parameters validated by pattern; and the replace-volume role, which can stop, start, attach
// and detach only on instances snapkeeper backs up.

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

describe.each(['restore-volume', 'replace-volume'])('the %s Automation document', (handler) => {
  it('invokes the runbook Lambda once, synchronously, with the request its parameters make', () => {
    const document = documentOf(handler);
    expect(document.schemaVersion).toBe('0.3');
    expect(document.mainSteps).toHaveLength(1);
    expect(document.mainSteps[0]).toMatchObject({
      action: 'aws:invokeLambdaFunction',
      maxAttempts: 1,
      inputs: { InvocationType: 'RequestResponse' },
    });
    expect(document.mainSteps[0]?.inputs.Payload).toMatch(
      /^\{"automation":\{"volumeId":"\{\{ VolumeId \}\}"/,
    );
    expect(document.mainSteps[0]?.inputs.Payload).toContain('{{ automation:EXECUTION_ID }}');
  });

  it('validates every string parameter with an allowedPattern that admits no quote or brace', () => {
    const { parameters } = documentOf(handler);
    expect(parameters.VolumeId?.allowedPattern).toContain('vol-[0-9a-f]{8,17}');
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
  const allowed = (request: Partial<AuthRequest> & Pick<AuthRequest, 'action' | 'resource'>) => {
    const context = request.context ?? {};
    const statements = roles.get('replace-volume');
    if (!statements) throw new Error('the stack has no replace-volume Lambda');
    return evaluate(statements, { known: Object.keys(context), ...request, context }).allowed;
  };
  const tagged = (tags: Record<string, string>) => ({
    context: Object.fromEntries(Object.entries(tags).map(([k, v]) => [`ec2:ResourceTag/${k}`, [v]])),
    known: ['ec2:ResourceTag/'],
  });

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
