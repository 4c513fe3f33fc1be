import { describe, expect, it } from 'vitest';
import { parseConfig } from '#core/config/config.ts';
import { AWS_REGIONS, regionProblem } from '#core/model/regions.ts';
import { aConfig, expectIssue, withSchedule } from '../../support/raw-config.ts';

describe('the Regions of a config', () => {
  it('refuses a well-formed but unknown primary Region and names the likely one', () => {
    expectIssue(
      aConfig((c) => (c.region = 'us-east-9')),
      'region',
      'not an AWS Region id: "us-east-9" (did you mean "us-east-1"?)',
    );
  });

  it('refuses an unknown manifest Region', () => {
    const raw = aConfig((c) => (c.manifests = { bucket: 'snapkeeper-manifests', region: 'eu-wset-1' }));
    expectIssue(raw, 'manifests.region', 'not an AWS Region id: "eu-wset-1" (did you mean "eu-west-1"?)');
  });

  it('refuses an unknown copy Region', () => {
    const raw = aConfig((c) => (c.policies[0].copies = [{ region: 'us-west-3' }]));
    expectIssue(raw, 'policies[0].copies[0].region', 'not an AWS Region id: "us-west-3"');
  });

  it('refuses an unknown Region as a copy limit key, naming the key', () => {
    const raw = aConfig((c) => (c.copyQueue = { maxInFlightByRegion: { 'eu-west-9': 5 } }));
    expectIssue(raw, 'copyQueue.maxInFlightByRegion.eu-west-9', 'not an AWS Region id: "eu-west-9"');
  });

  it('lists the known Regions when nothing is close', () => {
    const problem = regionProblem('mars-north-1');
    expect(problem).toContain('use one of af-south-1,');
    expect(problem).toContain('cn-northwest-1');
  });

  it('accepts the commercial, GovCloud and China partitions', () => {
    for (const region of ['us-east-1', 'ap-southeast-7', 'mx-central-1', 'us-gov-west-1', 'cn-north-1']) {
      expect(parseConfig(aConfig((c) => (c.region = region))).region).toBe(region);
    }
  });

  it('knows each Region once', () => {
    expect(new Set(AWS_REGIONS).size).toBe(AWS_REGIONS.length);
  });
});

describe('AMI deprecation', () => {
  const ami = (days: number) =>
    aConfig((c) => {
      c.policies[0].schedules[0] = {
        name: 'daily',
        expression: 'cron(0 3 * * ? *)',
        keep: { count: 7 },
        ami: true,
        deprecateAfterDays: days,
      };
    });

  it('accepts a deprecation ten years out, the most EC2 allows', () => {
    expect(parseConfig(ami(3650)).policies[0]?.schedules[0]?.deprecateAfterDays).toBe(3650);
  });

  it('refuses a deprecation more than ten years out and says why', () => {
    expectIssue(
      ami(3651),
      'policies[0].schedules[0].deprecateAfterDays',
      'must be at most 3650, got 3651: EC2 refuses a deprecation date more than 10 years after the AMI is taken',
    );
  });

  it('still refuses deprecation on a schedule without AMIs', () => {
    expectIssue(
      withSchedule({ expression: 'cron(0 3 * * ? *)', deprecateAfterDays: 30 }),
      'policies[0].schedules[0].deprecateAfterDays',
      'applies to AMIs only',
    );
  });
});
