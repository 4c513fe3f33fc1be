import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Config, parseConfig } from '#core/config/config.ts';
import { emfSink, METRIC, reconcileMetrics } from '#handlers/metrics.ts';
import { DASHBOARD_ROWS } from '../../infra/dashboard.ts';
import { SnapkeeperStack } from '../../infra/snapkeeper-stack.ts';
import type { TemplateJson } from './iam/roles.ts';
import { SYNTH_TIMEOUT_MS, templateFor } from './synth.ts';

/** Two policies with known gaps: db every 6 hours (and nightly in Paris), web daily; db copies to eu-west-1. */
const config: Config = parseConfig({
  region: 'eu-central-1',
  catalog: { table: 'team-backups' },
  policies: [
    {
      name: 'db',
      targets: 'volumes',
      schedules: [
        { name: 'nightly', expression: 'cron(15 1 * * ? *)', timezone: 'Europe/Paris', keep: { days: 30 } },
        { name: 'every-6h', expression: 'rate(6 hours)', keep: { count: 8 } },
      ],
      copies: [{ region: 'eu-west-1' }],
    },
    {
      name: 'web',
      targets: 'instances',
      schedules: [{ name: 'weekdays', expression: 'cron(0 2 ? * MON-FRI *)', keep: { count: 7 } }],
    },
    {
      name: 'monthly',
      targets: 'volumes',
      schedules: [{ name: 'last-day', expression: 'cron(0 4 L * ? *)', keep: { count: 12 } }],
    },
  ],
});

type Resource = { Type: string; Properties: Record<string, unknown> & { [key: string]: never } };
let template: TemplateJson;
const resources = (type: string) =>
  Object.entries(template.Resources as Record<string, Resource>).filter(([, r]) => r.Type === type);
const alarmNamed = (name: string) => {
  const found = resources('AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName === name);
  if (!found) throw new Error(`no alarm ${name}`);
  return found[1].Properties as Record<string, unknown>;
};
const logicalId = (type: string, pattern: RegExp) => {
  const found = resources(type).find(([id]) => pattern.test(id));
  if (!found) throw new Error(`no ${type} like ${pattern}`);
  return found[0];
};
const functionId = (handler: string) =>
  resources('AWS::Lambda::Function').find(
    ([, r]) =>
      (r as unknown as { Metadata?: Record<string, string> }).Metadata?.['snapkeeper:handler'] === handler,
  )?.[0];

beforeAll(() => {
  template = templateFor(config);
}, SYNTH_TIMEOUT_MS);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the alarms', () => {
  it('fire on the first error of the scheduled-run, backup and reconcile Lambdas', () => {
    for (const [name, handler] of [
      ['team-backups-scheduled-run-failed', 'scheduled-run'],
      ['team-backups-backup-failed', 'backup'],
      ['team-backups-reconcile-needs-attention', 'reconcile'],
    ] as const) {
      expect(alarmNamed(name), name).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(handler) } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('fire when reconcile has not run for four of its periods, silence counting as the fault', () => {
    expect(alarmNamed('team-backups-reconcile-not-running')).toMatchObject({
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId('reconcile') } }],
      Period: 3600,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it("fire per policy when its RPO exceeds the schedules' longest gap plus a run and a reconcile pass", () => {
    const rpo = (policy: string) => alarmNamed(`team-backups-rpo-${policy}`);
    // db: the 6-hour rate is its shortest longest gap; web: Friday to Monday; both plus 15 + 15 minutes.
    expect(rpo('db')).toMatchObject({
      Namespace: 'snapkeeper',
      MetricName: METRIC.rpo,
      Statistic: 'Maximum',
      Period: 900,
      Threshold: 6 * 3600 + 1800,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(rpo('web').Threshold).toBe(72 * 3600 + 1800);
    // Its L form is not evaluated: no alarm, and synth says so.
    expect(() => rpo('monthly')).toThrow(/no alarm/);
  });

  it('read the RPO metric under exactly the dimensions the reconcile Lambda publishes it with', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const report = {
      ...{ examined: 0, completed: [], failed: [], stillPending: [], stuck: [], expiries: [] },
      ...{ copiesQueued: [], copyExpiries: [], slotsFreed: [], pruned: [], held: [], notes: [] },
      orphans: { recorded: [], deleted: [], held: [] },
      rpo: [{ policy: 'db', targets: 1, rpoSeconds: 100, worstTargetId: 'vol-1', withoutGeneration: 0 }],
    };
    emfSink.publish(reconcileMetrics(report, 0));
    const documents = written
      .join('')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const published = documents.find((d) => METRIC.rpo in d);
    const dimensions = published._aws.CloudWatchMetrics[0].Dimensions[0] as string[];
    const alarm = alarmNamed('team-backups-rpo-db');
    expect(alarm.Namespace).toBe(published._aws.CloudWatchMetrics[0].Namespace);
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining(dimensions.map((name) => ({ Name: name, Value: published[name] }))),
    );
    expect((alarm.Dimensions as unknown[]).length).toBe(dimensions.length);

    const stuck = alarmNamed('team-backups-generations-stuck');
    const pass = documents.find((d) => METRIC.stuck in d);
    const passDimensions = pass._aws.CloudWatchMetrics[0].Dimensions[0] as string[];
    expect(stuck.Dimensions).toEqual(
      expect.arrayContaining(passDimensions.map((name) => ({ Name: name, Value: pass[name] }))),
    );
    expect((stuck.Dimensions as unknown[]).length).toBe(passDimensions.length);
  });

  it('fire on generations stuck pending and on a failed drill', () => {
    expect(alarmNamed('team-backups-generations-stuck')).toMatchObject({
      Namespace: 'snapkeeper',
      MetricName: METRIC.stuck,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarmNamed('team-backups-drill-failed')).toMatchObject({
      Namespace: 'snapkeeper',
      MetricName: METRIC.drillsFailed,
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: 'snapkeeper' },
        { Name: 'Job', Value: 'drill' },
      ]),
      Statistic: 'Sum',
      Threshold: 0,
    });
  });

  it('all notify the stack topic when they fire and when they clear, the copy dead-letter alarm too', () => {
    const topic = logicalId('AWS::SNS::Topic', /AlarmsTopic/);
    const alarms = resources('AWS::CloudWatch::Alarm');
    expect(alarms.map(([, a]) => a.Properties.AlarmName)).toContain(
      'dr-copies-dlq-not-empty'.replace('dr-copies', config.copyQueue.name),
    );
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.Properties.OKActions, id).toEqual([{ Ref: topic }]);
      // What it means and what to do, for whoever the notification wakes.
      expect(String(alarm.Properties.AlarmDescription), id).toMatch(/^snapkeeper: .{60,}/);
    }
  });
});

describe('the schedules', () => {
  it("every one, the policies' and reconcile's, retries and then dead-letters into one encrypted, TLS-only queue that is alarmed", () => {
    const queue = logicalId('AWS::SQS::Queue', /ScheduleDeadLetterQueue/);
    const schedules = resources('AWS::Scheduler::Schedule');
    // Four policy schedules and reconcile's.
    expect(schedules).toHaveLength(5);
    for (const [id, schedule] of schedules) {
      const target = schedule.Properties.Target as unknown as {
        DeadLetterConfig: unknown;
        RetryPolicy: { MaximumRetryAttempts: number };
      };
      expect(target.DeadLetterConfig, id).toEqual({ Arn: { 'Fn::GetAtt': [queue, 'Arn'] } });
      expect(target.RetryPolicy.MaximumRetryAttempts, id).toBeGreaterThan(0);
    }
    expect((template.Resources as Record<string, Resource>)[queue]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    const policy = resources('AWS::SQS::QueuePolicy').find(([, p]) =>
      JSON.stringify(p.Properties.Queues).includes(queue),
    );
    expect(JSON.stringify(policy?.[1].Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    expect(alarmNamed('team-backups-schedule-deliveries-failed')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      Threshold: 0,
    });
  });
});

describe('the alarm topic', () => {
  it('is encrypted with a rotated key of its own that CloudWatch of this account may use, and takes TLS only', () => {
    const topic = logicalId('AWS::SNS::Topic', /AlarmsTopic/);
    const key = logicalId('AWS::KMS::Key', /AlarmsTopicKey/);
    const resourcesById = template.Resources as Record<string, Resource>;
    expect(resourcesById[topic]?.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
    expect(resourcesById[key]?.Properties.EnableKeyRotation).toBe(true);
    const keyPolicy = JSON.stringify(resourcesById[key]?.Properties.KeyPolicy);
    expect(keyPolicy).toContain('cloudwatch.amazonaws.com');
    expect(keyPolicy).toContain('aws:SourceAccount');
    const topicPolicy = resources('AWS::SNS::TopicPolicy').find(([, p]) =>
      JSON.stringify(p.Properties.Topics).includes(topic),
    );
    const statements = JSON.stringify(topicPolicy?.[1].Properties.PolicyDocument);
    expect(statements).toContain('"aws:SecureTransport":"false"');
    expect(statements).toMatch(
      /cloudwatch\.amazonaws\.com.*sns:Publish|sns:Publish.*cloudwatch\.amazonaws\.com/,
    );
  });

  it('is the one the user passes instead, when given: no topic or key is created', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new SnapkeeperStack(app, 'WithTopic', {
      config,
      env: { region: config.region, account: '123456789012' },
      alarmTopic: Topic.fromTopicArn(
        new Stack(app, 'Topics'),
        'OnCall',
        'arn:aws:sns:eu-central-1:123456789012:on-call',
      ),
    });
    const own = Template.fromStack(stack);
    own.resourceCountIs('AWS::SNS::Topic', 0);
    own.resourceCountIs('AWS::KMS::Key', 0);
    for (const alarm of Object.values(own.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual(['arn:aws:sns:eu-central-1:123456789012:on-call']);
    }
  });
});

describe('the dashboard', () => {
  it('has the alarms on top, then one titled row per concern: runs, consistency, copies, retention, restores', () => {
    const dashboards = resources('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.[1].Properties.DashboardBody);
    expect(dashboards[0]?.[1].Properties.DashboardName).toBe('team-backups-snapkeeper');
    const at = (text: string) => body.indexOf(text);
    expect(at('snapkeeper alarms')).toBeGreaterThan(-1);
    const rows = DASHBOARD_ROWS.map((row) => at(`## ${row}`));
    expect(rows.every((position) => position > at('snapkeeper alarms'))).toBe(true);
    expect([...rows].sort((a, b) => a - b)).toEqual(rows);
    // Each concern's own figures sit in its row.
    const rowOf = (text: string) => rows.filter((start) => start < at(text)).length - 1;
    expect(rowOf(METRIC.throttled)).toBe(0);
    expect(rowOf(METRIC.rpo)).toBe(0);
    expect(rowOf(METRIC.freezeWindow)).toBe(1);
    expect(rowOf(METRIC.copyLag)).toBe(2);
    expect(rowOf(METRIC.pruned)).toBe(3);
    expect(rowOf('Restore-volume')).toBe(4);
    // The alarms by name, never by reference: an emulator that skips alarms could not resolve one.
    for (const [id] of resources('AWS::CloudWatch::Alarm')) expect(body).not.toContain(id);
    expect(body).toContain('alarm:team-backups-rpo-db');
    // The RPO graph draws each alarm's threshold.
    expect(body).toContain(`${6 * 3600 + 1800}`);
    expect(body).toContain('eu-west-1');
  });
});
