import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import { COPY_QUEUE_URL_VARIABLE } from '../../infra/copies.ts';
import { copyKeys } from '../../infra/copy-keys.ts';
import {
  actionsOf,
  policyStatements,
  repoConfigFile,
  resourcesOf,
  type Statement,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  synthesize,
} from './synth.ts';

const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-copies-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function configFile(name: string, config: unknown): string {
  const path = join(scratch, name);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** Not the schedules' dead-letter queue (its logical id, or text naming it). */
const notSchedules = (idOrText: string) => !/ScheduleDeadLetterQueue/.test(idOrText);

const daily = [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }];
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef';
const ALIAS_ARN = 'arn:aws:kms:us-east-2:111122223333:alias/dr-east';

/** Every form of copy key, three copy Regions (one without a key) and a queue of its own name. */
const everyKeyForm = {
  region: 'eu-central-1',
  catalog: { table: 'dr-catalog' },
  copyQueue: { name: 'dr-copies', maxInFlight: 10 },
  policies: [
    {
      name: 'db',
      targets: 'volumes',
      schedules: daily,
      copies: [
        { region: 'eu-west-1', kmsKeyId: KEY_ID },
        { region: 'us-east-2', kmsKeyId: ALIAS_ARN },
      ],
    },
    {
      name: 'web',
      targets: 'instances',
      schedules: [{ ...daily[0], ami: true }],
      copies: [{ region: 'eu-west-1', kmsKeyId: KEY_ARN }, { region: 'eu-north-1' }],
    },
  ],
};

/** The logical ids of the IAM policies attached to a role. */
function policiesOfRole(synthesized: Synthesized, roleName: unknown): string[] {
  const resolved = JSON.stringify(synthesized.stack.resolve(roleName));
  return Object.entries(synthesized.template.findResources('AWS::IAM::Policy'))
    .filter(([, policy]) => JSON.stringify(policy.Properties.Roles).includes(resolved))
    .map(([id]) => id);
}

function statementsOfRole(synthesized: Synthesized, roleName: unknown): Statement[] {
  const policies = policiesOfRole(synthesized, roleName);
  return policyStatements(synthesized.template).filter((s) => policies.includes(s.policy));
}

const text = (value: unknown) => JSON.stringify(value);

describe.each([
  { name: 'the repository config', file: () => repoConfigFile },
  { name: 'a config with every form of copy key', file: () => configFile('keys.json', everyKeyForm) },
])('the copies of the stack synthesized from $name', ({ file }) => {
  let synthesized: Synthesized;
  let config: Config;
  let copyRegions: string[];
  beforeAll(async () => {
    const path = file();
    config = await loadConfigFile(path);
    copyRegions = [...new Set(config.policies.flatMap((p) => p.copies.map((c) => c.region)))];
    synthesized = synthesize(path);
  }, SYNTH_TIMEOUT_MS);

  const copies = () => {
    const found = synthesized.stack.snapkeeper.copies;
    if (!found) throw new Error('no copies construct');
    return found;
  };
  const queueId = () => synthesized.stack.getLogicalId(copies().queue.node.defaultChild as never);
  const deadLetterId = () =>
    synthesized.stack.getLogicalId(copies().deadLetterQueue.node.defaultChild as never);
  const workerStatements = () => statementsOfRole(synthesized, copies().worker.role.roleName);

  it('queues copies durably: encrypted, TLS-only, redriven to an encrypted dead-letter queue after 5 tries', () => {
    const queues = synthesized.template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues).filter(notSchedules).sort()).toEqual([deadLetterId(), queueId()].sort());
    const queue = queues[queueId()]?.Properties;
    const deadLetters = queues[deadLetterId()]?.Properties;
    expect(queue).toMatchObject({
      QueueName: config.copyQueue.name,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterId(), 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(deadLetters).toMatchObject({
      QueueName: `${config.copyQueue.name}-dlq`,
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    const [worker] = Object.values(synthesized.template.findResources('AWS::Lambda::Function')).filter((fn) =>
      text(fn.Properties.Description).includes('cross-Region copies'),
    );
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * worker?.Properties.Timeout);
    for (const id of [queueId(), deadLetterId()]) {
      synthesized.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('feeds the worker from the queue in batches of 10, reporting failures per message, two at a time', () => {
    synthesized.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    synthesized.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
      FunctionName: synthesized.stack.resolve(copies().worker.function.functionName),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('raises an alarm as soon as a message lands in the dead-letter queue', () => {
    synthesized.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterId(), 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('lets the runs (scheduled and on-demand), reconcile and the worker (and nothing else) send copy work, and tells them where', () => {
    // The schedules' roles send to their own dead-letter queue (test/infra/alarms.test.ts); copy work is the rest.
    const senders = policyStatements(synthesized.template).filter(
      (s) => actionsOf(s).includes('sqs:SendMessage') && notSchedules(JSON.stringify(s.Resource)),
    );
    const { snapkeeper } = synthesized.stack;
    const roles = [
      snapkeeper.scheduledRunFunction,
      snapkeeper.backupFunction,
      snapkeeper.reconcileFunction,
      copies().worker.function,
    ].map((fn) => fn.role?.roleName);
    expect(senders.map((s) => s.policy).sort()).toEqual(
      roles.flatMap((role) => policiesOfRole(synthesized, role)).sort(),
    );
    for (const statement of senders) {
      expect(statement.Action).toBe('sqs:SendMessage');
      expect(statement.Resource).toEqual({ 'Fn::GetAtt': [queueId(), 'Arn'] });
    }
    for (const fn of Object.values(synthesized.template.findResources('AWS::Lambda::Function'))) {
      const url = fn.Properties.Environment.Variables[COPY_QUEUE_URL_VARIABLE];
      // The runbooks (restore-volume, replace-volume) restore; they never queue copy work.
      if (text(fn.Properties.Description).includes('runbook')) expect(url).toBeUndefined();
      else expect(url).toEqual({ Ref: queueId() });
    }
  });

  it('lets the worker copy only our snapshots and AMIs, into copies born tagged as ours, and delete nothing', () => {
    const statements = workerStatements();
    const copying = statements.filter((s) => actionsOf(s).some((a) => /^ec2:Copy/.test(a)));
    expect(copying).toHaveLength(2);
    for (const statement of copying) {
      expect(actionsOf(statement).sort()).toEqual(['ec2:CopyImage', 'ec2:CopySnapshot']);
      const resources = resourcesOf(statement);
      const inCopyRegions = copyRegions.every((region) =>
        resources.some((r) => r.includes(`:ec2:${region}::snapshot/*`)),
      );
      if (inCopyRegions) {
        expect(resources).toHaveLength(2 * copyRegions.length);
        expect(statement.Condition).toEqual({
          StringEquals: { 'aws:RequestTag/snapkeeper:managed': 'true' },
        });
      } else {
        // The sources: the primary Region (the stack's own), and only what already carries our tag.
        expect(resources.every((r) => r.includes('{"Ref":"AWS::Region"}'))).toBe(true);
        expect(statement.Condition).toEqual({
          StringEquals: { 'ec2:ResourceTag/snapkeeper:managed': 'true' },
        });
      }
    }
    const tagging = statements.filter((s) => actionsOf(s).includes('ec2:CreateTags'));
    expect(tagging).toHaveLength(1);
    expect(tagging[0]?.Condition).toEqual({
      StringEquals: { 'ec2:CreateAction': ['CopySnapshot', 'CopyImage'] },
    });
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(
      actions.filter((a) => /^ec2:(Delete|Deregister|ModifySnapshotAttribute)|^kms:Encrypt$/.test(a)),
    ).toEqual([]);
    for (const statement of statements) {
      if (text(statement.Resource) === '"*"') {
        expect(actionsOf(statement).sort()).toEqual(['ec2:DescribeImages', 'ec2:DescribeSnapshots']);
      }
    }
  });

  it('lets the worker use each copy key only through EC2 of its Region, and grant only to AWS resources', () => {
    const statements = workerStatements().filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    const keys = copyKeys(config);
    // Two statements (use, grant) per Region for its keys named by id or ARN, two more per aliased key group.
    const groups = new Set(keys.map((key) => `${key.region} ${key.alias ? key.resource : ''}`));
    expect(statements).toHaveLength(2 * groups.size);
    for (const statement of statements) {
      const via = text(statement.Condition?.StringEquals?.['kms:ViaService']);
      const region = copyRegions.find((r) => via.includes(`"ec2.${r}."`));
      expect(region, via).toBeDefined();
      const resources = resourcesOf(statement);
      if (actionsOf(statement).includes('kms:CreateGrant')) {
        expect(actionsOf(statement)).toEqual(['kms:CreateGrant']);
        expect(statement.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': 'true' });
      }
      for (const resource of resources) {
        expect(resource).toMatch(/:kms:/);
        // A wildcard key only through an alias the config names.
        if (resource.includes('key/*')) {
          const aliases = statement.Condition?.['ForAnyValue:StringEquals']?.['kms:ResourceAliases'];
          expect(aliases).toEqual(keys.filter((k) => k.region === region && k.alias).map((k) => k.alias));
        }
      }
    }
    const named = statements.flatMap(resourcesOf).filter((r) => !r.includes('key/*'));
    for (const key of keys.filter((k) => !k.alias)) {
      expect(named.some((r) => r.includes(key.resource.replace(/.*:key\//, 'key/')))).toBe(true);
    }
  });

  it('keeps reconcile able to prune copies in every copy Region, only of what is tagged as ours', () => {
    const reconcile = statementsOfRole(
      synthesized,
      synthesized.stack.snapkeeper.reconcileFunction.role?.roleName,
    );
    for (const action of ['ec2:DeleteSnapshot', 'ec2:DeregisterImage']) {
      const [statement] = reconcile.filter((s) => actionsOf(s).includes(action));
      expect(statement?.Condition).toEqual({
        StringEquals: { 'ec2:ResourceTag/snapkeeper:managed': 'true' },
      });
      for (const region of copyRegions) {
        expect(resourcesOf(statement as Statement).some((r) => r.includes(`:ec2:${region}::`))).toBe(true);
      }
    }
  });

  it('passes the cdk-nag AwsSolutions checks with no unsuppressed finding', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    const nag = Match.stringLikeRegexp('AwsSolutions-.*');
    const findings = [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)];
    expect(findings.map((finding) => `${finding.id}: ${finding.entry.data}`)).toEqual([]);
  });
});

describe('a stack whose policies copy nowhere', () => {
  it(
    'has no copy queue, worker, alarm or queue URL',
    () => {
      const { template } = synthesize(
        configFile('no-copies.json', {
          region: 'us-east-1',
          catalog: { table: 'no-copies' },
          policies: [{ name: 'daily', targets: 'volumes', schedules: daily }],
        }),
      );
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
      // Only the schedules' dead-letter queue, and no copy alarm among the stack's alarms.
      expect(Object.keys(template.findResources('AWS::SQS::Queue')).filter(notSchedules)).toEqual([]);
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms.map((a) => a.Properties.AlarmName).filter((n) => /dlq-not-empty/.test(n))).toEqual([]);
      expect(text(template.toJSON())).not.toContain(COPY_QUEUE_URL_VARIABLE);
      const statements = policyStatements(template);
      expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')))).toEqual([]);
      for (const statement of statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')))) {
        expect(JSON.stringify(statement.Resource)).toMatch(/ScheduleDeadLetterQueue/);
      }
    },
    SYNTH_TIMEOUT_MS,
  );
});

describe('copy keys', () => {
  it('name a key by its ARN in the copy Region, and an aliased key by the keys of its Region and account', async () => {
    const config = await loadConfigFile(configFile('keys-only.json', everyKeyForm));
    expect(copyKeys(config, 'aws', '123456789012')).toEqual(
      [
        { region: 'eu-west-1', resource: `arn:aws:kms:eu-west-1:123456789012:key/${KEY_ID}` },
        { region: 'us-east-2', resource: 'arn:aws:kms:us-east-2:111122223333:key/*', alias: 'alias/dr-east' },
        { region: 'eu-west-1', resource: KEY_ARN },
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    const repo = await loadConfigFile(repoConfigFile);
    expect(copyKeys(repo, 'aws', '123456789012')).toEqual([
      { region: 'us-west-2', resource: 'arn:aws:kms:us-west-2:123456789012:key/*', alias: 'alias/dr' },
    ]);
  });
});
