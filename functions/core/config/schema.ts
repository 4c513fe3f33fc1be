import { z } from 'zod';
import { awsRegion } from '#core/model/regions.ts';
import { scheduleExpressionProblem, timezoneProblem } from './schedule-expression.ts';

/**
 * The schema of `snapkeeper.config.json` (SPEC §4). Every field carries a description: the generated JSON
 * Schema and docs/configuration.md (`npm run docs`) reuse them. Field-level rules live next to each field;
 * rules that span fields are in `checks.ts`, joined to these by `ConfigSchema` in `config.ts`. Messages say what is wrong and how to fix it.
 */

const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const KMS_KEY_PATTERN =
  /^(?:alias\/[a-zA-Z0-9/_-]+|(?:mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|mrk-[0-9a-f]{32}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[a-zA-Z0-9/_-]+)$/;

const name = (what: string, example: string) =>
  z
    .string()
    .max(64, { error: `${what} name is longer than 64 characters; shorten it` })
    .regex(NAME_PATTERN, {
      error: `${what} name must be lowercase letters, digits and hyphens, starting and ending with a letter or digit (it becomes a tag value and a schedule name), e.g. "${example}"`,
    });

const region = awsRegion;

/** EC2 refuses an AMI deprecation time more than 10 years ahead (EnableImageDeprecation). */
const MAX_DEPRECATE_AFTER_DAYS = 3650;

/** How long an on-demand backup is kept unless the policy says otherwise. */
export const DEFAULT_ON_DEMAND_DAYS = 7;
const MAX_ON_DEMAND_DAYS = 3650;

const s3Bucket = z
  .string()
  .min(3, { error: 'S3 bucket names are 3-63 characters; lengthen it' })
  .max(63, { error: 'S3 bucket names are 3-63 characters; shorten it' })
  .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, {
    error:
      'S3 bucket names use lowercase letters, digits, dots and hyphens, and start and end with a letter or digit',
  })
  .refine((bucket) => !bucket.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(bucket), {
    error: 'S3 bucket names cannot contain ".." or look like an IP address; pick another name',
  })
  .refine(
    (bucket) => !/^(xn--|sthree-|amzn-s3-demo-)|(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(bucket),
    {
      error: 'S3 reserves this bucket name prefix or suffix; pick another name',
    },
  );

const keep = z
  .strictObject({
    count: z.int().min(1).optional().describe('Keep the newest N completed generations.'),
    days: z
      .int()
      .min(1)
      .optional()
      .describe('Keep generations for N days after they were scheduled (their scheduledAt).'),
  })
  .refine((rule) => rule.count !== undefined || rule.days !== undefined, {
    error: 'keep needs count or days (or both), e.g. { "count": 7 }',
  })
  .describe(
    'Retention: a generation is kept while any rule that applies to it keeps it. The newest completed generation of a target is never deleted.',
  )
  .meta({
    examples: [{ count: 7 }, { count: 7, days: 14 }],
    anyOf: [{ required: ['count'] }, { required: ['days'] }],
  });

const schedule = z
  .strictObject({
    name: name('schedule', 'daily')
      .describe('Schedule name, unique within its policy; recorded on every snapshot as snapkeeper:schedule.')
      .meta({ examples: ['daily'] }),
    expression: z
      .string()
      .superRefine((expression, ctx) => {
        const problem = scheduleExpressionProblem(expression);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe(
        'EventBridge Scheduler expression: cron(minutes hours day-of-month month day-of-week year) with exactly one of the day fields "?", or rate(N minute(s)|hour(s)|day(s)).',
      )
      .meta({ examples: ['cron(0 3 * * ? *)', 'cron(0 4 ? * SUN *)', 'rate(12 hours)'] }),
    timezone: z
      .string()
      .superRefine((timezone, ctx) => {
        const problem = timezoneProblem(timezone);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('IANA time zone the cron expression is read in, e.g. "Europe/Paris". Default: UTC.'),
    keep,
    ami: z
      .boolean()
      .default(false)
      .describe('Make an AMI of each instance instead of a bare snapshot set (instance policies only).'),
    amiDataVolumes: z
      .enum(['snapshot', 'exclude'])
      .optional()
      .describe(
        'With ami: the AMI images the boot volume only; data volumes are snapshotted as a set inside the same freeze (snapshot, the default) or left out (exclude).',
      ),
    deprecateAfterDays: z
      .int()
      .min(1)
      .max(MAX_DEPRECATE_AFTER_DAYS, {
        error: (issue) =>
          `must be at most ${MAX_DEPRECATE_AFTER_DAYS}, got ${String(issue.input)}: EC2 refuses a deprecation date more than 10 years after the AMI is taken; use ${MAX_DEPRECATE_AFTER_DAYS} or less`,
      })
      .optional()
      .describe('With ami: mark each AMI deprecated this many days after it was taken. Default: never.'),
  })
  .describe('One EventBridge Scheduler schedule of the policy, with its own retention.');

const consistency = z
  .strictObject({
    mode: z
      .enum(['crash', 'filesystem', 'script'])
      .describe(
        'crash: no freeze. filesystem: sync and fsfreeze (Linux) or VSS (Windows) through SSM. script: your SSM document with pre and post steps.',
      ),
    timeoutSeconds: z
      .int()
      .min(1)
      .max(60)
      .default(10)
      .describe(
        'Longest a filesystem may stay frozen; an agent-side watchdog thaws it after this, whatever happens.',
      ),
    onFailure: z
      .enum(['crash', 'skip'])
      .default('crash')
      .describe(
        'When the freeze fails: crash takes a crash-consistent generation and records it as such; skip takes none.',
      ),
    document: z
      .string()
      .regex(/^[a-zA-Z0-9_\-.:/]{3,128}$/, {
        error: 'not an SSM document name: 3-128 letters, digits and _ - . : /, or the document ARN',
      })
      .optional()
      .describe(
        'Name or ARN of your SSM document with pre and post steps; required when mode is "script", only then.',
      ),
  })
  .superRefine((rule, ctx) => {
    if (rule.mode === 'script' && rule.document === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['document'],
        message: 'mode "script" needs the SSM document to run; add "document": "<name or ARN>"',
      });
    }
    if (rule.mode !== 'script' && rule.document !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['document'],
        message: `document is only used when mode is "script"; remove it or set "mode": "script"`,
      });
    }
  })
  .describe('How the filesystem or application is quiesced before the snapshot.')
  .meta({
    if: { properties: { mode: { const: 'script' } }, required: ['mode'] },
    // biome-ignore lint/suspicious/noThenProperty: the JSON Schema if/then/else keyword; this object is never awaited
    then: { required: ['document'] },
    else: { not: { required: ['document'] } },
  });

const copy = z
  .strictObject({
    region: region
      .describe('Disaster-recovery Region to copy generations to; not the config region.')
      .meta({ examples: ['us-west-2'] }),
    kmsKeyId: z
      .string()
      .regex(KMS_KEY_PATTERN, {
        error:
          'not a KMS key id; use a key id, "alias/<name>", or a key or alias ARN in the destination Region',
      })
      .optional()
      .describe(
        'KMS key in the destination Region to encrypt the copies with. Default: the EBS default key.',
      ),
    schedules: z
      .array(z.string())
      .min(1, { error: 'schedules is empty; list schedule names, or remove the key to copy every schedule' })
      .optional()
      .describe(
        'Names of this policy\'s schedules whose generations are copied ("on-demand" names its on-demand backups). Default: all of them, on-demand backups included.',
      ),
    keep: keep
      .optional()
      .describe('Retention of the copies. Default: the keep rule of the schedule they came from.'),
  })
  .describe('A copy of each generation to another Region.');

const tagKey = z
  .string()
  .min(1, { error: 'tag keys cannot be empty' })
  .max(128, { error: 'tag keys are at most 128 characters; shorten it' })
  .refine((key) => !/^(aws|snapkeeper):/i.test(key), {
    error:
      'tag keys cannot start with "aws:" (reserved by AWS) or "snapkeeper:" (set by snapkeeper); rename it',
  });

const policy = z
  .strictObject({
    name: name('policy', 'daily')
      .describe(
        'Policy name; resources opt in with the tag snapkeeper:policy=<name>. Also part of the schedule names.',
      )
      .meta({ examples: ['daily'] }),
    targets: z
      .enum(['instances', 'volumes'])
      .describe(
        'instances: each tagged instance with its attached volumes, as one crash-consistent set. volumes: each tagged volume alone.',
      ),
    schedules: z
      .array(schedule)
      .min(1, {
        error:
          'a policy needs at least one schedule, e.g. { "name": "daily", "expression": "cron(0 3 * * ? *)", "keep": { "count": 7 } }',
      })
      .describe('When the policy runs and how long each run is kept.')
      .meta({ examples: [[{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }]] }),
    consistency: consistency.prefault({ mode: 'crash' }),
    excludeBootVolume: z
      .boolean()
      .default(false)
      .describe('Leave the boot volume out of instance snapshot sets (AMI schedules still image it).'),
    copies: z.array(copy).default([]).describe('Disaster-recovery copies to other Regions.'),
    onDemand: z
      .strictObject({
        keep: z
          .strictObject({
            days: z
              .int({ error: 'onDemand.keep.days must be a whole number of days' })
              .min(1, {
                error: 'onDemand.keep.days must be at least 1; an on-demand backup is kept for whole days',
              })
              .max(MAX_ON_DEMAND_DAYS, {
                error: `onDemand.keep.days must be at most ${MAX_ON_DEMAND_DAYS} (10 years); use a schedule for longer retention`,
              })
              .default(DEFAULT_ON_DEMAND_DAYS)
              .describe(
                `Days after it was taken that an on-demand backup is kept. Default: ${DEFAULT_ON_DEMAND_DAYS}.`,
              ),
          })
          .prefault({})
          .describe(
            'Retention of on-demand backups: by days only. They are a lineage of their own (schedule "on-demand"), so they never count against a schedule\'s keep.',
          ),
      })
      .prefault({})
      .describe('On-demand backups (`snapkeeper backup`, the backup Lambda) of the policy.'),
    orphans: z
      .strictObject({
        keepNewestDays: z
          .int({ error: 'keepNewestDays must be a whole number of days' })
          .min(0, {
            error: 'keepNewestDays cannot be negative; use 0 to delete it as soon as retention allows',
          })
          .optional()
          .describe(
            'Days after it was scheduled (its scheduledAt) that the newest generation of a target that no longer exists (a deleted volume or terminated instance) may be pruned. Without it, that generation is kept forever.',
          ),
      })
      .prefault({})
      .describe(
        'The orphan rule: what happens to the generations of a target that no longer exists. Older generations always follow keep; only the newest is special.',
      ),
    tags: z
      .record(tagKey, z.string().max(256, { error: 'tag values are at most 256 characters; shorten it' }))
      .refine((tags) => Object.keys(tags).length <= 45, {
        error:
          'at most 45 policy tags: EC2 allows 50 per resource and snapkeeper adds 5 of its own; remove some',
      })
      .default({})
      .describe(
        'Extra tags on everything the policy creates. Values may use $(policy), $(schedule), $(instance-id), $(volume-id) (volume policies only) and $(timestamp).',
      ),
  })
  .describe('A named set of backup rules that resources opt into by tag.');

/** The config's fields, each with its own rules. */
export const ConfigFields = z
  .strictObject({
    $schema: z
      .string()
      .optional()
      .describe('Path or URL of the JSON Schema, for editors. Ignored by snapkeeper.'),
    region: region
      .describe('Primary AWS Region: where the tagged resources, the catalog and the schedules live.')
      .meta({ examples: ['us-east-1'] }),
    catalog: z
      .strictObject({
        table: z
          .string()
          .regex(/^[a-zA-Z0-9_.-]{3,255}$/, {
            error:
              'DynamoDB table names are 3-255 letters, digits, "_", "-" and "."; e.g. "snapkeeper-catalog"',
          })
          .describe('Name of the DynamoDB table that records every generation.')
          .meta({ examples: ['snapkeeper-catalog'] }),
      })
      .describe('The generation catalog.')
      .meta({ examples: [{ table: 'snapkeeper-catalog' }] }),
    manifests: z
      .strictObject({
        bucket: s3Bucket
          .describe('Name of the S3 bucket for generation manifests.')
          .meta({ examples: ['snapkeeper-manifests-123456789012'] }),
        region: region
          .describe('Region of the manifest bucket, usually the DR Region.')
          .meta({ examples: ['us-west-2'] }),
      })
      .optional()
      .describe('Where generation manifests are written, so backups can be found without the catalog.'),
    copyQueue: z
      .strictObject({
        name: z
          .string()
          .regex(/^[a-zA-Z0-9_-]{1,75}$/, {
            error:
              'SQS queue names are 1-75 letters, digits, "_" and "-" (the dead-letter queue adds "-dlq"); e.g. "snapkeeper-copies"',
          })
          .default('snapkeeper-copies')
          .describe(
            'Name of the SQS queue DR copies wait in (in the config region); its dead-letter queue is <name>-dlq.',
          ),
        maxInFlight: z
          .int({ error: 'maxInFlight must be a whole number of copies' })
          .min(1, { error: 'maxInFlight must be at least 1' })
          .max(100, {
            error: 'maxInFlight is at most 100; EBS allows 20 concurrent copies per Region unless raised',
          })
          .default(20)
          .describe(
            'Snapshot copies in flight at once per destination Region. The default is the EBS quota of concurrent copies per destination Region; raise it only with the quota.',
          ),
        maxInFlightByRegion: z
          .record(
            region,
            z
              .int({ error: 'a Region limit must be a whole number of copies' })
              .min(1, { error: 'a Region limit must be at least 1' })
              .max(100, { error: 'a Region limit is at most 100' }),
          )
          .default({})
          .describe('Per destination Region overrides of maxInFlight, e.g. { "eu-west-1": 10 }.'),
      })
      .prefault({})
      .describe('The queue DR copies wait in, and how many may be in flight per destination Region.'),
    reconcile: z
      .strictObject({
        stuckAfterMinutes: z
          .int({ error: 'stuckAfterMinutes must be a whole number of minutes' })
          .min(15, { error: 'stuckAfterMinutes must be at least 15 (a run can hold a claim for 15 minutes)' })
          .default(360)
          .describe(
            'A generation still pending this long after it was claimed is flagged as stuck (logged, reported, alarmed).',
          ),
      })
      .prefault({})
      .describe('How reconcile judges generations that do not finish.'),
    policies: z
      .array(policy)
      .min(1, { error: 'the config needs at least one policy; add one to "policies"' })
      .describe('Backup policies.')
      .meta({
        examples: [
          [
            {
              name: 'daily',
              targets: 'instances',
              schedules: [{ name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 7 } }],
            },
          ],
        ],
      }),
  })
  .describe('snapkeeper configuration: tag-driven EBS snapshot and AMI backups.');

export type Config = z.infer<typeof ConfigFields>;
/** A configuration as written, before defaults: what a CDK app may pass the construct as `config`. */
export type ConfigInput = z.input<typeof ConfigFields>;
export type Policy = Config['policies'][number];
export type ScheduleRule = Policy['schedules'][number];
export type KeepRule = ScheduleRule['keep'];
export type CopyRule = Policy['copies'][number];
export type ConsistencyRule = Policy['consistency'];
