import { describe, expect, it } from 'vitest';
import {
  expandVariables,
  isExcluded,
  policiesOf,
  snapshotTags,
  TAG,
  type TagContext,
  userTags,
} from '#core/model/tags.ts';

function aContext(fields: Partial<TagContext> = {}): TagContext {
  return {
    policy: 'daily',
    schedule: 'hourly',
    generationId: 'gen-20261121T030000-1a2b3c4d5e',
    target: { kind: 'instance', id: 'i-0123456789abcdef0' },
    scheduledAt: '2026-11-21T03:00:00.000Z',
    policyTags: {},
    ...fields,
  };
}

/** `count` distinct tags `<prefix>0`..., all with the same value. */
function manyTags(prefix: string, count: number, value = 'x'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, value]));
}

describe('policiesOf', () => {
  it('reads one policy name', () => {
    expect(policiesOf({ [TAG.policy]: 'daily' })).toEqual(['daily']);
  });

  it('reads a comma-separated list, trimming spaces and dropping empty entries', () => {
    expect(policiesOf({ [TAG.policy]: ' weekly, daily ,,hourly, ' })).toEqual(['weekly', 'daily', 'hourly']);
  });

  it('finds no policy when the tag is missing, empty or only commas', () => {
    expect(policiesOf({})).toEqual([]);
    expect(policiesOf({ [TAG.policy]: '' })).toEqual([]);
    expect(policiesOf({ [TAG.policy]: ' , ' })).toEqual([]);
  });

  it('does not treat a longer name as the policy it starts with', () => {
    expect(policiesOf({ [TAG.policy]: 'daily-long' })).not.toContain('daily');
  });
});

describe('isExcluded and userTags', () => {
  it('excludes a volume only for the value true, in any case and spacing', () => {
    expect(isExcluded({ [TAG.exclude]: 'true' })).toBe(true);
    expect(isExcluded({ [TAG.exclude]: ' TRUE ' })).toBe(true);
    expect(isExcluded({ [TAG.exclude]: 'yes' })).toBe(false);
    expect(isExcluded({})).toBe(false);
  });

  it('drops the aws: keys that nobody may write', () => {
    expect(userTags({ Name: 'db', 'aws:cloudformation:stack-name': 'x', AWSome: 'y' })).toEqual({
      Name: 'db',
      AWSome: 'y',
    });
  });
});

describe('expandVariables', () => {
  it('fills in policy, schedule, instance id and the scheduled time', () => {
    expect(expandVariables('$(policy)/$(schedule)/$(instance-id)@$(timestamp)', aContext())).toBe(
      'daily/hourly/i-0123456789abcdef0@2026-11-21T03:00:00.000Z',
    );
  });

  it('fills in the volume id for a volume target and leaves the instance id empty', () => {
    const context = aContext({ target: { kind: 'volume', id: 'vol-0abc' } });
    expect(expandVariables('$(volume-id)|$(instance-id)', context)).toBe('vol-0abc|');
  });

  it('uses the scheduled time, not the wall clock, so a replayed run tags as the original', () => {
    const context = aContext({ scheduledAt: '2020-01-01T00:00:00.000Z' });
    expect(expandVariables('$(timestamp)', context)).toBe('2020-01-01T00:00:00.000Z');
  });

  it('leaves unknown variables and plain text alone', () => {
    expect(expandVariables('cost-$(team) $(policy) $policy', aContext())).toBe('cost-$(team) daily $policy');
  });
});

describe('snapshotTags', () => {
  it('writes our keys on every snapshot', () => {
    expect(snapshotTags(aContext())).toEqual({
      [TAG.managed]: 'true',
      [TAG.policy]: 'daily',
      [TAG.schedule]: 'hourly',
      [TAG.generation]: 'gen-20261121T030000-1a2b3c4d5e',
      [TAG.sourceInstance]: 'i-0123456789abcdef0',
    });
  });

  it('names the source volume for a volume target', () => {
    const tags = snapshotTags(aContext({ target: { kind: 'volume', id: 'vol-0abc' } }));
    expect(tags[TAG.sourceVolume]).toBe('vol-0abc');
    expect(tags[TAG.sourceInstance]).toBeUndefined();
  });

  it('lets our keys win over the policy tags, and the policy tags over the volume tags', () => {
    const context = aContext({
      policyTags: { [TAG.generation]: 'forged', Backup: '$(policy)', Team: 'platform' },
    });
    const tags = snapshotTags(context, {
      [TAG.managed]: 'false',
      Backup: 'volume',
      Team: 'payments',
      Name: 'db',
    });
    expect(tags).toMatchObject({
      [TAG.managed]: 'true',
      [TAG.generation]: 'gen-20261121T030000-1a2b3c4d5e',
      Backup: 'daily',
      Team: 'platform',
      Name: 'db',
    });
  });

  it('carries volume tags without their aws: keys', () => {
    const tags = snapshotTags(aContext(), { Name: 'db', 'aws:backup:source-resource': 'x' });
    expect(tags.Name).toBe('db');
    expect(Object.keys(tags).some((key) => key.startsWith('aws:'))).toBe(false);
  });

  it('drops volume tags first to stay within the 50-tag limit', () => {
    const policyTags = manyTags('P', 40);
    const tags = snapshotTags(aContext({ policyTags }), manyTags('V', 20));
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags).toMatchObject(policyTags);
    expect(Object.keys(tags).filter((key) => key.startsWith('V'))).toHaveLength(5);
    expect(tags[TAG.generation]).toBe('gen-20261121T030000-1a2b3c4d5e');
  });

  it('carries no volume tag at all when ours and the policy tags fill the limit', () => {
    const tags = snapshotTags(aContext({ policyTags: manyTags('P', 45) }), { Name: 'db' });
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags.Name).toBeUndefined();
  });

  it('counts a volume tag that the policy overrides only once', () => {
    const tags = snapshotTags(aContext({ policyTags: manyTags('P', 44) }), { P0: 'volume', Name: 'db' });
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags).toMatchObject({ P0: 'x', Name: 'db' });
  });
});
