/**
 * The generated parts of docs/deploy.md: what the stacks create, read off the synthesized templates of the
 * repository's app and example config, so the page cannot drift from the code. `npm run docs` writes them;
 * test/infra/deploy-guide.test.ts fails when the page no longer matches (synthesizing takes seconds, too long for
 * the unit tier).
 */
import { Template } from 'aws-cdk-lib/assertions';
import {
  CONFIG_FILE_CONTEXT,
  defineApp,
  MANIFEST_STACK_ID,
  manifestStackOf,
} from '../../infra/define-app.ts';
import { HANDLER_METADATA } from '../../infra/functions.ts';
import { repoConfigFile, unbundledApp } from '../../test/infra/synth.ts';
import type { GeneratedRegion } from './generated.ts';

interface Resource {
  Type: string;
  DeletionPolicy?: string;
  Metadata?: Record<string, unknown>;
  Properties?: Record<string, unknown>;
}

/** What each resource type is for, in the words of the deploy guide. A type missing here fails the render. */
const PURPOSE: Readonly<Record<string, string>> = {
  'AWS::CloudWatch::Alarm': 'the [alarms](alarms.md), all notifying the alarm topic',
  'AWS::CloudWatch::Dashboard': 'the dashboard ([alarms](alarms.md#the-dashboard))',
  'AWS::DynamoDB::Table':
    'the catalog: every generation, lease, audit entry and drill (point-in-time recovery, deletion protection, encrypted)',
  'AWS::IAM::Policy': "one per role: each function's least-privilege permissions ([security](security.md))",
  'AWS::IAM::Role': 'one per function, and one for the schedules to invoke them',
  'AWS::KMS::Key': "the alarm topic's key (SNS needs a customer key CloudWatch may use)",
  'AWS::Lambda::EventInvokeConfig': 'retries and maximum event age of the asynchronously invoked functions',
  'AWS::Lambda::EventSourceMapping': 'the copy queue feeding the copy worker',
  'AWS::Lambda::Function': 'the functions',
  'AWS::Logs::LogGroup': "one per function (the functions' logs are evidence of what a run did)",
  'AWS::S3::Bucket': 'the manifest bucket: versioned, Object Lock (governance), SSE-S3, TLS only',
  'AWS::S3::BucketPolicy': 'TLS only on the manifest bucket',
  'AWS::SNS::Topic': 'the alarm topic (subscribe your pager to it)',
  'AWS::SNS::TopicPolicy': 'TLS only, CloudWatch may publish',
  'AWS::SQS::Queue': 'queues',
  'AWS::SQS::QueuePolicy': 'TLS only on each queue',
  'AWS::SSM::Document': 'freeze commands and the runbooks as SSM Automation documents',
  'AWS::Scheduler::Schedule': 'one per policy schedule, and the reconcile pass',
  'AWS::Scheduler::ScheduleGroup': "the schedules' group",
  'AWS::SecretsManager::Secret':
    "the mark key: keys the `snapkeeper:mark` HMAC that proves a backup is snapkeeper's own ([security](security.md))",
};

/** Types whose unnamed resources the table names by logical id. */
const BY_ID = new Set(['AWS::SQS::Queue', 'AWS::SSM::Document', 'AWS::Scheduler::Schedule']);

/** The names a reader recognises a resource by: its handler, schedule or queue name. */
function nameOf(id: string, resource: Resource): string | undefined {
  const handler = resource.Metadata?.[HANDLER_METADATA];
  if (typeof handler === 'string') return handler;
  const properties = resource.Properties ?? {};
  for (const key of ['QueueName', 'Name']) {
    if (typeof properties[key] === 'string') return properties[key] as string;
  }
  // Unnamed ones by their logical id, without the construct's prefix and CDK's hash.
  if (BY_ID.has(resource.Type)) return id.replace(/^SnapKeeper/, '').replace(/[0-9A-F]{8}$/, '');
  return undefined;
}

function retained(resource: Resource): boolean {
  return resource.DeletionPolicy === 'Retain' || resource.DeletionPolicy === 'RetainExceptOnCreate';
}

function rows(stackName: string, template: Template): string[] {
  const resources = (template.toJSON() as { Resources: Record<string, Resource> }).Resources;
  const byType = new Map<string, Array<[string, Resource]>>();
  for (const entry of Object.entries(resources)) {
    const list = byType.get(entry[1].Type) ?? [];
    list.push(entry);
    byType.set(entry[1].Type, list);
  }
  return [...byType.keys()].sort().map((type) => {
    const purpose = PURPOSE[type];
    if (!purpose) {
      throw new Error(
        `the stack now creates ${type}; say what it is for in PURPOSE in scripts/docs/deploy-guide.ts`,
      );
    }
    const list = byType.get(type) ?? [];
    const names = [...new Set(list.map(([id, r]) => nameOf(id, r)).filter((n): n is string => Boolean(n)))];
    const kept = list.filter(([, r]) => retained(r)).length;
    const onDestroy =
      kept === 0
        ? 'deleted'
        : kept === list.length
          ? '**retained**'
          : `**${kept} retained**, the rest deleted`;
    const what = names.length > 0 ? `${purpose}: ${names.map((n) => `\`${n}\``).join(', ')}` : purpose;
    return `| ${stackName} | \`${type}\` | ${list.length} | ${what} | ${onDestroy} |`;
  });
}

/** The table of every resource type the two stacks create for the example config, and what `cdk destroy` keeps. */
export async function renderResourceTable(): Promise<string> {
  const app = unbundledApp({ [CONFIG_FILE_CONTEXT]: repoConfigFile });
  const main = defineApp(app);
  const manifests = manifestStackOf(app);
  return [
    '| Stack | Type | Count | What | On `cdk destroy` |',
    '|---|---|---|---|---|',
    ...rows(main.stackName, Template.fromStack(main)),
    ...(manifests ? rows(MANIFEST_STACK_ID, Template.fromStack(manifests)) : []),
  ].join('\n');
}

export const DEPLOY_GENERATED: readonly GeneratedRegion[] = [
  { page: 'docs/deploy.md', region: 'deploy-resources', render: renderResourceTable },
];
