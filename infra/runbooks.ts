import { Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { z } from 'zod';
import type { Config } from '#core/config/config.ts';
import { REPLACE_VOLUME, ReplaceVolumeRequestSchema } from '#core/recovery/replace.ts';
import { RESTORE_VOLUME } from '#core/recovery/restore.ts';
import { RESTORE_INSTANCE, RestoreInstanceRequestSchema } from '#core/recovery/restore-instance.ts';
import { automationParameters, automationPayload } from '#handlers/automation.ts';
import { RestoreVolumeEventSchema } from '#handlers/restore-volume.ts';
import { suppressCopyKeyFindings } from './copy-keys.ts';
import { SnapkeeperFunction } from './functions.ts';
import { grantManifestReads } from './manifests.ts';
import {
  ec2ArnsAsNagSeesThem,
  everyRegion,
  grantReplaceVolume,
  grantRestoreInstance,
  grantRestoreVolume,
} from './permissions.ts';

/**
 * The restore runbooks, each in the one shape every runbook has (see docs/restore.md): a Lambda over the
 * runbook's core function with its own least-privilege role, and an SSM Automation document that invokes it, so
 * operators find it where AWS runbooks live. The document's parameters come from the runbook's request schema
 * (`automationParameters`), each constrained by the schema's pattern; the Automation execution id is the
 * request's idempotency key.
 */
export interface RunbookProps {
  readonly config: Config;
  readonly table: Table;
  /** The policies' copy Regions, where restore-volume and restore-instance may also restore. */
  readonly copyRegions: readonly string[];
}

/** One runbook: its Lambda and its Automation document. */
export interface Runbook {
  readonly fn: SnapkeeperFunction;
  readonly document: CfnDocument;
}

/** What SSM lets one `aws:invokeLambdaFunction` step run (the action's documented maximum). */
const INVOKE_STEP_SECONDS = 300;

export interface Runbooks {
  readonly restoreVolume: Runbook;
  readonly replaceVolume: Runbook;
  readonly restoreInstance: Runbook;
}

/**
 * Adds the runbooks to `scope` itself, not to a construct of their own, so the restore-volume Lambda keeps the
 * logical ids it had before replace-volume joined it: an upgrade replaces nothing.
 */
export function addRunbooks(scope: Construct, props: RunbookProps): Runbooks {
  const { config, table, copyRegions } = props;
  const restore = new SnapkeeperFunction(scope, 'RestoreVolume', {
    handler: RESTORE_VOLUME,
    description: 'snapkeeper: restore-volume runbook',
    config,
    memorySize: 512,
    // It waits for the new volume to become available, which takes minutes for a large volume.
    timeout: Duration.minutes(10),
  });
  grantRestoreVolume(restore.role, table, config, copyRegions);
  suppressCopyKeyFindings(restore.role, config);
  // The runbook restores from the manifests when asked to (`fromManifests`), the catalog being unreachable.
  grantManifestReads(config, [restore.role]);
  const restoreVolume = {
    fn: restore,
    document: runbookDocument(scope, 'RestoreVolumeDocument', restore, RestoreVolumeEventSchema, {
      description: 'snapkeeper restore-volume: a new volume from a generation, waited until available',
      token: 'idempotencyToken',
      fields: {
        volumeId: 'Source volume: restore its newest completed generation at or before At',
        generationId: 'Restore this generation instead (with VolumeId when it holds several volumes)',
        at: 'Point in time, ISO-8601; default now',
        availabilityZone: 'Availability Zone of the new volume',
        region: 'Restore from the generation’s DR copy in this Region; default the primary Region',
        dryRun: 'Check everything CreateVolume would, create nothing',
        fromManifests: 'Find the generation in the manifests (the catalog is unreachable)',
      },
    }),
  };

  const replace = new SnapkeeperFunction(scope, 'ReplaceVolume', {
    handler: REPLACE_VOLUME,
    description: 'snapkeeper: replace-volume runbook',
    config,
    memorySize: 512,
    // A new volume, a stop, two attachment changes and a start, each waited for: Lambda's ceiling.
    timeout: Duration.minutes(15),
  });
  grantReplaceVolume(replace.role, table);
  const replaceVolume = {
    fn: replace,
    document: runbookDocument(scope, 'ReplaceVolumeDocument', replace, ReplaceVolumeRequestSchema, {
      description:
        'snapkeeper replace-volume: swap an attached volume for a restore of it at the same device, rolled back on any failure',
      token: 'requestId',
      fields: {
        volumeId: 'The attached volume to replace',
        at: 'Restore its newest completed generation at or before this time (ISO-8601); default now',
        generationId: 'Restore this generation of the volume instead',
        dryRun: 'Check everything and return the plan; change nothing',
      },
    }),
  };

  const launch = new SnapkeeperFunction(scope, 'RestoreInstance', {
    handler: RESTORE_INSTANCE,
    description: 'snapkeeper: restore-instance runbook',
    config,
    memorySize: 512,
    // A launch, the data volumes' restores and their attachments, each waited for: Lambda's ceiling.
    timeout: Duration.minutes(15),
  });
  grantRestoreInstance(launch.role, table, config, copyRegions);
  suppressCopyKeyFindings(launch.role, config);
  const restoreInstance = {
    fn: launch,
    document: runbookDocument(scope, 'RestoreInstanceDocument', launch, RestoreInstanceRequestSchema, {
      description:
        'snapkeeper restore-instance: launch an instance from an AMI generation and attach its restored data volumes, rolled back on any failure',
      token: 'requestId',
      fields: {
        instanceId: 'Source instance: launch its newest completed AMI generation at or before At',
        generationId: 'Launch this AMI generation instead',
        at: 'Point in time, ISO-8601; default now',
        region: 'Launch in this copy Region from the DR copies; default the primary Region',
        subnetId: 'Subnet to launch in; default the source instance’s (primary Region only)',
        instanceType: 'Instance type; default the source instance’s',
        securityGroupIds:
          'Comma-separated security group ids of the subnet’s VPC; default the source instance’s',
        keyName: 'Key pair; default the source instance’s',
        instanceProfile: 'IAM instance profile name or ARN; default the source instance’s',
        force: 'Launch from a deprecated AMI anyway',
        dryRun: 'Check everything RunInstances and CreateVolume would, launch nothing',
      },
    }),
  };
  suppressRunbookFindings({ restore, replace, launch }, copyRegions);
  return { restoreVolume, replaceVolume, restoreInstance };
}

/**
 * An Automation document whose one step invokes `fn` with the request the parameters make. The step waits at
 * most 300 s (SSM's limit for the action); the Lambda runs on to its own timeout, and the same execution id (its
 * request id) asked of the runbook again returns what it did.
 */
function runbookDocument(
  scope: Construct,
  id: string,
  fn: SnapkeeperFunction,
  schema: z.ZodType,
  props: { description: string; token: string; fields: Record<string, string> },
): CfnDocument {
  const parameters = automationParameters(schema, props.fields, props.token);
  return new CfnDocument(scope, id, {
    documentType: 'Automation',
    documentFormat: 'JSON',
    updateMethod: 'NewVersion',
    content: {
      schemaVersion: '0.3',
      description: props.description,
      assumeRole: '{{ AutomationAssumeRole }}',
      parameters: {
        AutomationAssumeRole: {
          type: 'String',
          description:
            'Role Automation assumes to invoke the runbook Lambda; default the caller’s permissions',
          default: '',
          allowedPattern: '^(?:arn:aws[a-z-]*:iam::\\d{12}:role/[\\w+=,.@/-]{1,512})?$',
        },
        ...Object.fromEntries(parameters.map(({ name, field: _field, ...parameter }) => [name, parameter])),
      },
      mainSteps: [
        {
          name: 'Invoke',
          action: 'aws:invokeLambdaFunction',
          // A retry of the step would be a new invocation of the same request: the runbook answers it from its
          // journal, so one attempt is enough and no retry can act twice.
          maxAttempts: 1,
          timeoutSeconds: INVOKE_STEP_SECONDS,
          onFailure: 'Abort',
          inputs: {
            FunctionName: fn.function.functionArn,
            InvocationType: 'RequestResponse',
            Payload: automationPayload(parameters, props.token),
          },
        },
      ],
      outputs: ['Invoke.Payload', 'Invoke.FunctionError'],
    },
  });
}

/** Each suppression on the one role or function it is about, naming the exact wildcard it allows. */
function suppressRunbookFindings(
  { restore, replace, launch }: Record<'restore' | 'replace' | 'launch', SnapkeeperFunction>,
  regions: readonly string[],
): void {
  const primary = ec2ArnsAsNagSeesThem();
  const restoreArns = [primary, ...regions.map((region) => ec2ArnsAsNagSeesThem(region))];
  const describe = {
    id: 'AwsSolutions-IAM5',
    reason:
      'EC2 Describe* actions (instances, volumes, volume status, availability zones) do not support resource-level permissions; `*` is the only resource IAM accepts for them.',
    appliesTo: ['Resource::*'],
  };
  const created =
    'A restored volume does not exist yet, so it cannot be named: volume/* is allowed for CreateVolume only when the request tags it snapkeeper:managed=true (and CreateTags only inside CreateVolume); snapshot/* only for snapshots that already carry snapkeeper:managed=true.';
  NagSuppressions.addResourceSuppressions(
    restore.role,
    [
      describe,
      {
        id: 'AwsSolutions-IAM5',
        reason: `${created} In the primary Region or a copy Region of the config.`,
        appliesTo: restoreArns
          .flatMap((arns) => [arns.volume, arns.snapshot])
          .map((arn) => `Resource::${arn}`),
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    replace.role,
    [
      describe,
      {
        id: 'AwsSolutions-IAM5',
        reason: `${created} The instance replace-volume works on is found at run time from the volume named, so instance/* is allowed only for instances that carry a snapkeeper:policy tag (StopInstances, StartInstances, AttachVolume, DetachVolume). volume/* for AttachVolume and DetachVolume has no tag condition: the old volume of an instance backed up as a whole carries no snapkeeper tag and a rollback must put it back; the instance condition bounds both calls. CreateTags on an existing volume may write only snapkeeper:replaced-by; DeleteVolume only volumes tagged snapkeeper:managed=true.`,
        appliesTo: [primary.volume, primary.snapshot, primary.instance].map((arn) => `Resource::${arn}`),
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    launch.role,
    [
      {
        ...describe,
        reason:
          'EC2 Describe* actions (images, instances, instance type offerings, key pairs, security groups, subnets, volumes, volume status) do not support resource-level permissions; `*` is the only resource IAM accepts for them.',
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: `${created} The launched instance does not exist yet either: image/* and snapshot/* for RunInstances only of AMIs and snapshots tagged snapkeeper:managed=true, in the primary Region or a copy Region of the config. In every Region (ec2:*), since a launch also needs that: instance/* and volume/* (its root volume) for RunInstances only when the request tags them snapkeeper:managed=true; CreateTags only inside RunInstances; AttachVolume, TerminateInstances and DeleteVolume only of instances and volumes tagged snapkeeper:managed=true; subnet/*, security-group/*, key-pair/* and network-interface/* for RunInstances, which the operator names at run time (or which are carried from the source instance) and RunInstances makes.`,
        appliesTo: restoreArns
          .flatMap((arns) => [arns.volume, arns.snapshot, arns.image])
          .concat(
            ['instance', 'volume', 'subnet', 'security-group', 'key-pair', 'network-interface'].map((type) =>
              everyRegion(type, '<AWS::Partition>', '<AWS::AccountId>'),
            ),
          )
          .map((arn) => `Resource::${arn}`),
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'The instance profile named in the request (or carried from the source instance) is chosen at run time, so its role cannot be named here; iam:PassRole is allowed only with iam:PassedToService ec2.amazonaws.com.',
        appliesTo: ['Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*'],
      },
    ],
    true,
  );
  const runtime = {
    id: 'AwsSolutions-L1',
    reason:
      'Pinned to nodejs22.x on purpose: the bundle targets node22 and is tested on that runtime; moving to a newer runtime is a deliberate upgrade, not an automatic one.',
  };
  for (const fn of [restore, replace, launch])
    NagSuppressions.addResourceSuppressions(fn.function, [runtime]);
}
