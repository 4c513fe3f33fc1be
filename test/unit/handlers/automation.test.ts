import { describe, expect, it } from 'vitest';
import { automationParameters, automationPayload, fromAutomation } from '#handlers/automation.ts';
import { RestoreVolumeEventSchema } from '#handlers/restore-volume.ts';

// The SSM Automation document and the runbook Lambda read one description of the request: what the document
// sends must come out of `fromAutomation` as the request the schema accepts.

const parameters = automationParameters(RestoreVolumeEventSchema, {}, 'idempotencyToken');
const byName = (name: string) => parameters.find((p) => p.name === name);

/** Fills the payload template as Automation does: each `{{ Name }}` by the parameter's value. */
function filled(values: Record<string, string | boolean>): unknown {
  const text = automationPayload(parameters, 'idempotencyToken').replace(
    /\{\{ ([\w:]+) \}\}/g,
    (_, name: string) => {
      if (name === 'automation:EXECUTION_ID') return 'a1b2c3d4-0000-4000-8000-000000000000';
      const parameter = byName(name);
      return String(values[name] ?? parameter?.default ?? '');
    },
  );
  return JSON.parse(text);
}

describe('a runbook as an Automation document', () => {
  it('has one parameter per request field, its allowedPattern from the schema', () => {
    expect(byName('VolumeId')).toMatchObject({
      type: 'String',
      default: '',
      allowedPattern: '^(?:vol-[0-9a-f]{8,17})?$',
    });
    expect(byName('AvailabilityZone')).not.toHaveProperty('default');
    expect(byName('DryRun')).toMatchObject({ type: 'Boolean', default: false });
    expect(byName('VolumeType')?.allowedPattern).toBe('^(?:gp2|gp3|io1|io2|st1|sc1|standard)?$');
    expect(byName('IdempotencyToken')).toBeUndefined();
  });

  it('refuses, by pattern, any value that could break out of the JSON payload', () => {
    for (const parameter of parameters.filter((p) => p.allowedPattern)) {
      const pattern = new RegExp(parameter.allowedPattern as string);
      expect(pattern.test('"}, "x": {"'), parameter.name).toBe(false);
    }
  });

  it('turns a filled payload back into the request: blanks left out, numbers parsed, the execution id as the token', () => {
    const event = filled({
      VolumeId: 'vol-0123456789abcdef0',
      AvailabilityZone: 'us-east-1a',
      Iops: '4000',
      DryRun: true,
    });
    const request = RestoreVolumeEventSchema.parse(fromAutomation(RestoreVolumeEventSchema, event));
    expect(request).toEqual({
      volumeId: 'vol-0123456789abcdef0',
      availabilityZone: 'us-east-1a',
      iops: 4000,
      dryRun: true,
      fromManifests: false,
      idempotencyToken: 'a1b2c3d4-0000-4000-8000-000000000000',
    });
  });

  it('leaves a direct invocation’s event as it is', () => {
    const event = { volumeId: 'vol-0123456789abcdef0', availabilityZone: 'us-east-1a' };
    expect(fromAutomation(RestoreVolumeEventSchema, event)).toBe(event);
  });
});
