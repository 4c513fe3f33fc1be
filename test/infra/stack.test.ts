import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogIndexes, catalogLayout } from '#adapters/catalog/layout.ts';
import { MANIFEST_PREFIXES } from '#adapters/manifests.ts';
import { type Config, loadConfigFile, parseConfig } from '#core/config/config.ts';
import { RUN_MAX_EVENT_AGE_SECONDS, SCHEDULER_MAX_EVENT_AGE_SECONDS } from '#core/config/occurrence.ts';
import { SCHEDULED_TIME, scheduleName } from '../../infra/schedules.ts';
import {
  actionsOf,
  policyStatements,
  repoConfigFile,
  resourcesOf,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  synthesize,
} from './synth.ts';

const scratch = mkdtempSync(join(tmpdir(), 'snapkeeper-infra-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** A second, different configuration: YAML, another Region, a time zone, a DR copy Region, two policies. */
const customYaml = `
region: eu-central-1
catalog: { table: team-backups }
policies:
  - name: db
    targets: volumes
    schedules:
      - { name: nightly, expression: "cron(15 1 * * ? *)", timezone: Europe/Paris, keep: { days: 30 } }
      - { name: every-6h, expression: "rate(6 hours)", keep: { count: 8 } }
    copies: [{ region: eu-west-1 }]
  - name: web
    targets: instances
    schedules:
      - { name: daily, expression: "cron(0 2 * * ? *)", keep: { count: 7 } }
`;

/** The schedules of policies (the reconcile schedule has its own test). */
function policySchedules(synthesized: Synthesized) {
  return Object.values(synthesized.template.findResources('AWS::Scheduler::Schedule')).filter(
    (schedule) => 'policy' in JSON.parse(schedule.Properties.Target.Input),
  );
}

const cases: Array<{ name: string; file: () => string }> = [
  { name: 'the repository config', file: () => repoConfigFile },
  { name: 'a custom YAML config', file: () => configFile('custom.yaml', customYaml) },
];

describe.each(cases)('the stack synthesized from $name', ({ file }) => {
  let synthesized: Synthesized;
  let config: Config;
  beforeAll(async () => {
    const path = file();
    // Read through the CLI's loader, not the app's, so the two readings are checked against each other.
    config = await loadConfigFile(path);
    synthesized = synthesize(path);
  }, SYNTH_TIMEOUT_MS);

  it('retains the catalog, with point-in-time recovery, encryption and deletion protection', () => {
    const { partitionKey, sortKey, openWorkIndex } = catalogLayout;
    expect(catalogIndexes[0]).toBe(openWorkIndex);
    synthesized.template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        TableName: config.catalog.table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' },
          { AttributeName: sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: catalogIndexes.map((index) =>
          Match.objectLike({
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.partitionKey, KeyType: 'HASH' },
              { AttributeName: index.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          }),
        ),
        AttributeDefinitions: Match.arrayWith([{ AttributeName: openWorkIndex.sortKey, AttributeType: 'S' }]),
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      }),
    });
    const [table] = Object.values(synthesized.template.findResources('AWS::DynamoDB::Table'));
    for (const attribute of table?.Properties.AttributeDefinitions ?? [])
      expect(attribute.AttributeType).toBe('S');
  });

  it('has one Scheduler schedule per policy schedule, delivering the real fire time to the run', () => {
    const schedules = policySchedules(synthesized);
    const expected = config.policies.flatMap((policy) => policy.schedules.map((rule) => ({ policy, rule })));
    expect(schedules).toHaveLength(expected.length);
    const runFunction = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.scheduledRunFunction.functionArn,
    ) as unknown;
    for (const { policy, rule } of expected) {
      const match = schedules.filter(
        (schedule) =>
          JSON.parse(schedule.Properties.Target.Input).policy === policy.name &&
          JSON.parse(schedule.Properties.Target.Input).schedule === rule.name,
      );
      expect(match, `${policy.name}/${rule.name}`).toHaveLength(1);
      const properties = match[0]?.Properties;
      expect(properties.Name).toBe(scheduleName(policy.name, rule.name));
      expect(properties.GroupName).toEqual({ Ref: expect.stringMatching(/Group/) });
      expect(properties.ScheduleExpression).toBe(rule.expression);
      expect(properties.ScheduleExpressionTimezone).toBe(rule.timezone);
      expect(properties.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
      expect(properties.Target.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
      expect(properties.Target.Arn).toEqual(runFunction);
      expect(JSON.parse(properties.Target.Input)).toEqual({
        policy: policy.name,
        schedule: rule.name,
        scheduledAt: SCHEDULED_TIME,
      });
    }
  });

  it('bounds how late a delivery can come to the window the scheduled-run handler accepts', () => {
    for (const schedule of policySchedules(synthesized)) {
      expect(schedule.Properties.Target.RetryPolicy.MaximumEventAgeInSeconds).toBe(
        SCHEDULER_MAX_EVENT_AGE_SECONDS,
      );
    }
    const runFunction = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.scheduledRunFunction.functionName,
    );
    synthesized.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: runFunction,
      MaximumEventAgeInSeconds: RUN_MAX_EVENT_AGE_SECONDS,
    });
  });

  it("lets Scheduler invoke the scheduled-run function and send what it could not deliver to the schedules' dead-letter queue, nothing else", () => {
    const roleArns = new Set(
      policySchedules(synthesized).map((schedule) => JSON.stringify(schedule.Properties.Target.RoleArn)),
    );
    expect(roleArns.size).toBe(1);
    const role = JSON.parse([...roleArns][0] ?? '{}')['Fn::GetAtt'][0] as string;
    const statements = policyStatements(synthesized.template).filter((statement) =>
      JSON.stringify(synthesized.template.toJSON().Resources[statement.policy].Properties.Roles).includes(
        role,
      ),
    );
    const deadLetters = policySchedules(synthesized).map(
      (schedule) => schedule.Properties.Target.DeadLetterConfig,
    );
    expect(new Set(deadLetters.map((d) => JSON.stringify(d))).size).toBe(1);
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: synthesized.stack.resolve(synthesized.stack.snapkeeper.scheduledRunFunction.functionArn),
      }),
      expect.objectContaining({ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: deadLetters[0]?.Arn }),
    ]);
  });

  it('creates snapshots and volumes only tagged snapkeeper:managed=true, and tags only on creation', () => {
    const statements = policyStatements(synthesized.template);
    const creating = statements.filter((s) =>
      actionsOf(s).some((a) => /^ec2:Create(Snapshots?|Volume)$/.test(a)),
    );
    expect(creating.length).toBeGreaterThan(0);
    for (const statement of creating) {
      const resources = resourcesOf(statement);
      const creates = (suffix: string) => resources.some((resource) => resource.includes(suffix));
      if (creates('snapshot/*') && actionsOf(statement).some((a) => a.startsWith('ec2:CreateSnapshot'))) {
        expect(statement.Condition).toEqual({
          StringEquals: { 'aws:RequestTag/snapkeeper:managed': 'true' },
        });
      }
      if (actionsOf(statement).includes('ec2:CreateVolume')) {
        expect(statement.Condition).toEqual(
          creates('volume/*')
            ? { StringEquals: { 'aws:RequestTag/snapkeeper:managed': 'true' } }
            : { StringEquals: { 'ec2:ResourceTag/snapkeeper:managed': 'true' } },
        );
        // One statement per side, so each condition applies to exactly the resource it is about.
        expect(creates('volume/*') && creates('snapshot/*')).toBe(false);
      }
    }
    const tagging = statements.filter((s) => actionsOf(s).includes('ec2:CreateTags'));
    expect(tagging.length).toBeGreaterThanOrEqual(2);
    for (const statement of tagging) {
      expect(actionsOf(statement)).toEqual(['ec2:CreateTags']);
      // Tags at creation only; or, on an existing volume, replace-volume's snapkeeper:replaced-by alone.
      const onCreate = statement.Condition?.StringEquals?.['ec2:CreateAction'];
      if (onCreate === undefined) {
        expect(statement.Condition).toEqual({
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['snapkeeper:replaced-by'] },
        });
      }
    }
  });

  it('grants no wildcard action, and deletes only of snapshots, AMIs and volumes tagged as ours', () => {
    let deletes = 0;
    for (const statement of policyStatements(synthesized.template)) {
      expect(statement.Effect).toBe('Allow');
      for (const action of actionsOf(statement)) {
        expect(action).not.toMatch(/^dynamodb:(DeleteItem|BatchWriteItem)$|\*/);
        if (!/^ec2:(Delete|Deregister|Terminate)/.test(action)) continue;
        deletes++;
        expect([
          'ec2:DeleteSnapshot',
          'ec2:DeregisterImage',
          'ec2:DeleteVolume',
          'ec2:TerminateInstances',
        ]).toContain(action);
        expect(actionsOf(statement)).toHaveLength(1);
        expect(statement.Condition).toEqual({
          StringEquals: { 'ec2:ResourceTag/snapkeeper:managed': 'true' },
        });
        expect(statement.Resource).not.toContain('*');
      }
    }
    // Reconcile's prune (snapshots, AMIs); replace-volume's rollback (the volume it restored); restore-instance's
    // rollback (the instance it launched, the volumes it restored).
    expect(deletes).toBe(5);
  });

  it('scopes DynamoDB access to the catalog table and its index', () => {
    const table = Object.keys(synthesized.template.findResources('AWS::DynamoDB::Table'))[0];
    const catalog = [
      { 'Fn::GetAtt': [table, 'Arn'] },
      ...catalogIndexes.map((index) => ({
        'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, `/index/${index.name}`]],
      })),
    ];
    for (const statement of policyStatements(synthesized.template)) {
      if (!actionsOf(statement).some((action) => action.startsWith('dynamodb:'))) continue;
      // The restore runbook's audit PutItem names the table alone: item writes never act on an index.
      if (statement.Condition) expect(statement.Resource).toEqual(catalog[0]);
      else expect(statement.Resource).toEqual(catalog);
    }
  });

  it('lets only the runs (scheduled and on demand), reconcile and the copy worker write manifests, encrypted, into the config bucket', () => {
    const writes = policyStatements(synthesized.template).filter((s) =>
      actionsOf(s).some((action) => action.startsWith('s3:Put')),
    );
    // The runs' roles, the reconcile function's role and, with copies, the copy worker's: one statement each.
    const copies = config.policies.some((policy) => policy.copies.length > 0);
    expect(writes.map((s) => s.policy)).toEqual(
      config.manifests
        ? [
            ...(copies ? [expect.stringMatching(/CopiesWorkerRole/)] : []),
            expect.stringMatching(/ScheduledRunRole/),
            expect.stringMatching(/BackupRole/),
            expect.stringMatching(/ReconcileFunctionRole/),
          ]
        : [],
    );
    for (const statement of writes) {
      expect(actionsOf(statement)).toEqual(['s3:PutObject']);
      // Only the prefixes of the manifest layout, never the whole bucket.
      const resources = JSON.stringify(statement.Resource);
      for (const prefix of Object.values(MANIFEST_PREFIXES)) {
        expect(resources).toContain(`:s3:::${config.manifests?.bucket}/${prefix}*`);
      }
      expect(resources).not.toContain(`:s3:::${config.manifests?.bucket}/*`);
      expect(statement.Condition).toEqual({
        StringEquals: { 's3:x-amz-server-side-encryption': 'AES256' },
      });
    }
  });

  it('lets only the restore runbook read manifests, in the config bucket alone', () => {
    const reads = policyStatements(synthesized.template).filter((s) =>
      actionsOf(s).some((action) => action.startsWith('s3:') && !action.startsWith('s3:Put')),
    );
    if (!config.manifests) {
      expect(reads).toEqual([]);
      return;
    }
    expect(reads.map((s) => [s.policy, actionsOf(s)])).toEqual([
      [expect.stringMatching(/RestoreVolumeRole/), ['s3:GetObject']],
      [expect.stringMatching(/RestoreVolumeRole/), ['s3:ListBucket']],
    ]);
    for (const statement of reads) {
      expect(JSON.stringify(statement.Resource)).toContain(`:s3:::${config.manifests.bucket}`);
    }
  });

  it('hands every Lambda the configuration, which parses back to the same configuration', () => {
    const functions = Object.values(synthesized.template.findResources('AWS::Lambda::Function'));
    // Run, on-demand backup, reconcile, restore-volume, replace-volume, restore-instance and, when a policy copies,
    // the copy worker.
    const copies = config.policies.some((policy) => policy.copies.length > 0);
    expect(functions).toHaveLength(copies ? 7 : 6);
    const { $schema: _, ...withoutSchema } = config;
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      const raw = fn.Properties.Environment.Variables.SNAPKEEPER_CONFIG as string;
      expect(parseConfig(JSON.parse(raw))).toEqual(withoutSchema);
    }
  });

  it('runs reconcile on its own schedule, with deletes only in its role and the rollbacks of the runbooks', () => {
    const reconcileArn = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.reconcileFunction.functionArn,
    );
    const reconcileSchedules = Object.values(
      synthesized.template.findResources('AWS::Scheduler::Schedule'),
    ).filter((schedule) => JSON.stringify(schedule.Properties.Target.Arn) === JSON.stringify(reconcileArn));
    expect(reconcileSchedules).toHaveLength(1);
    expect(reconcileSchedules[0]?.Properties).toMatchObject({
      ScheduleExpression: 'rate(15 minutes)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Input: '{}' },
    });
    const reconcileRole = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.reconcileFunction.role?.roleName,
    );
    const replaceRole = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.runbooks.replaceVolume.fn.role.roleName,
    );
    const launchRole = synthesized.stack.resolve(
      synthesized.stack.snapkeeper.runbooks.restoreInstance.fn.role.roleName,
    );
    for (const statement of policyStatements(synthesized.template)) {
      const actions = actionsOf(statement);
      if (!actions.some((action) => /^ec2:(Delete|Deregister|Terminate)/.test(action))) continue;
      const roles = synthesized.template.toJSON().Resources[statement.policy].Properties.Roles;
      // The runbooks delete only what they made, when they roll back (managed volumes; restore-instance's
      // managed instance); pruning is reconcile's alone.
      if (actions.includes('ec2:TerminateInstances')) expect(roles).toEqual([launchRole]);
      else if (actions.includes('ec2:DeleteVolume'))
        expect([[replaceRole], [launchRole]]).toContainEqual(roles);
      else expect(roles).toEqual([reconcileRole]);
    }
  });

  it('deploys nothing the emulator cannot create: no custom resources', () => {
    const types = Object.values(synthesized.template.toJSON().Resources).map(
      (r) => (r as { Type: string }).Type,
    );
    expect(
      types.filter((type) => type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource'),
    ).toEqual([]);
  });

  it('passes the cdk-nag AwsSolutions checks with no unsuppressed error or warning', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    const nag = Match.stringLikeRegexp('AwsSolutions-.*');
    const findings = [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)];
    expect(findings.map((finding) => `${finding.id}: ${finding.entry.data}`)).toEqual([]);
  });
});

describe('schedule names', () => {
  it('read policy.schedule, and stay unique and within 64 characters when that is too long', () => {
    expect(scheduleName('daily', 'hourly')).toBe('daily.hourly');
    const long = scheduleName('p'.repeat(64), 's'.repeat(64));
    expect(long).toHaveLength(64);
    expect(long).not.toBe(scheduleName('p'.repeat(64), `${'s'.repeat(63)}t`));
  });
});

describe('the environment limit', () => {
  it('fails synth, naming the limit, when the configuration would not fit in a Lambda environment', () => {
    const repo = JSON.parse(readFileSync(repoConfigFile, 'utf8'));
    const policies = Array.from({ length: 30 }, (_, i) => ({
      name: `policy-${i}`,
      targets: 'volumes',
      schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }],
      tags: { Owner: 'platform-team', CostCentre: 'backups-and-recovery' },
    }));
    const path = configFile('too-big.json', JSON.stringify({ ...repo, policies }));
    expect(() => synthesize(path)).toThrow(
      /environment of the scheduled-run Lambda would be \d+ bytes, over AWS Lambda's 4096-byte limit/,
    );
  });
});

describe('the template', () => {
  it(
    'changes only on purpose (asset hashes normalised)',
    () => {
      // The test's own config, so editing the repository's config does not churn the snapshot.
      const { template } = synthesize(configFile('custom.yaml', customYaml));
      const normalised = JSON.parse(
        JSON.stringify(template.toJSON()).replace(/[0-9a-f]{64}/g, '<asset-hash>'),
      ) as unknown;
      expect(normalised).toMatchSnapshot();
    },
    SYNTH_TIMEOUT_MS,
  );
});
