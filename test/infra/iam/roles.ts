import { HANDLER_METADATA } from '../../../infra/functions.ts';
import { ACCOUNT } from './auth-request.ts';
import type { ResolvedStatement } from './policy.ts';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

export interface TemplateJson {
  Resources: Record<string, Resource>;
}

/** The Lambdas of a template by their handler, each with the statements of its role's policies. */
export interface TemplateRoles {
  byHandler: Map<string, ResolvedStatement[]>;
  /** Lambdas without `snapkeeper:handler` metadata: code the contract test knows nothing about. */
  unknownFunctions: string[];
}

/**
 * Resolves the intrinsic functions of policies as CloudFormation would for a stack in `region` of the emulator's
 * account: pseudo parameters, `Fn::Join`, and `Ref`/`Fn::GetAtt …Arn` of the template's own tables, queues,
 * buckets and log groups. Anything else becomes a placeholder that matches no real ARN, so a statement that
 * depends on it can only fail to allow, never allow by accident.
 */
export function resolver(template: TemplateJson, region: string) {
  const pseudo: Record<string, string> = {
    'AWS::Region': region,
    'AWS::AccountId': ACCOUNT,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const arnOf = (id: string): string => {
    const resource = template.Resources[id];
    const p = resource?.Properties ?? {};
    switch (resource?.Type) {
      case 'AWS::DynamoDB::Table':
        return `arn:aws:dynamodb:${region}:${ACCOUNT}:table/${String(p.TableName ?? id)}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${region}:${ACCOUNT}:${String(p.QueueName ?? id)}`;
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${String(p.BucketName ?? id)}`;
      case 'AWS::Logs::LogGroup':
        return `arn:aws:logs:${region}:${ACCOUNT}:log-group:${String(p.LogGroupName ?? id)}:*`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${region}:${ACCOUNT}:function:${id}`;
    }
    return `<unresolved ${id}.Arn>`;
  };
  const resolve = (value: unknown): unknown => {
    if (typeof value === 'string' || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(resolve);
    const object = value as Record<string, unknown>;
    if ('Ref' in object) {
      const ref = String(object.Ref);
      return pseudo[ref] ?? `<unresolved Ref ${ref}>`;
    }
    if ('Fn::GetAtt' in object) {
      const [id, attribute] = object['Fn::GetAtt'] as [string, string];
      return attribute === 'Arn' ? arnOf(id) : `<unresolved ${id}.${attribute}>`;
    }
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map((part) => String(resolve(part))).join(separator);
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve;
}

/** Every Lambda's role in the template, its policies resolved for `region`. */
export function templateRoles(template: TemplateJson, region: string): TemplateRoles {
  const resolve = resolver(template, region);
  const byHandler = new Map<string, ResolvedStatement[]>();
  const unknownFunctions: string[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const handler = resource.Metadata?.[HANDLER_METADATA];
    if (typeof handler !== 'string') {
      unknownFunctions.push(id);
      continue;
    }
    const role = resource.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const roleId = role?.['Fn::GetAtt']?.[0];
    if (!roleId) throw new Error(`the ${handler} Lambda (${id}) has no role of this template`);
    byHandler.set(handler, statementsOfRole(template, roleId, resolve));
  }
  return { byHandler, unknownFunctions };
}

function statementsOfRole(
  template: TemplateJson,
  roleId: string,
  resolve: (value: unknown) => unknown,
): ResolvedStatement[] {
  const role = template.Resources[roleId]?.Properties ?? {};
  const attachedManaged = Object.entries(template.Resources).filter(
    ([, r]) =>
      r.Type === 'AWS::IAM::ManagedPolicy' &&
      (r.Properties?.Roles as unknown[] | undefined)?.some((ref) => (ref as { Ref?: string }).Ref === roleId),
  );
  // CDK moves what does not fit in a role's inline policy into managed ones (OverflowPolicy…): make it fit.
  if (role.ManagedPolicyArns || attachedManaged.length > 0) {
    throw new Error(
      `role ${roleId} has managed policies (${attachedManaged.map(([id]) => id).join(', ') || 'ManagedPolicyArns'}), which the permission contract test cannot read`,
    );
  }
  type Document = { Statement: unknown[] };
  const inline = ((role.Policies ?? []) as { PolicyDocument: Document }[]).map((p) => p.PolicyDocument);
  const attached = Object.values(template.Resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties?.Roles as unknown[] | undefined)?.some(
          (ref) => (ref as { Ref?: string }).Ref === roleId,
        ),
    )
    .map((r) => r.Properties?.PolicyDocument as Document);
  return [...inline, ...attached].flatMap((document) => resolve(document.Statement) as ResolvedStatement[]);
}
