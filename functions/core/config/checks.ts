import type { Config, Policy } from './schema.ts';

/** The schedule name of on-demand generations: their own lineage, so they never count against a schedule's keep. */
export const ON_DEMAND_SCHEDULE = 'on-demand';

/** Variables a policy tag may use; each is replaced when the resource is created. */
export const TAG_VARIABLES = ['policy', 'schedule', 'instance-id', 'volume-id', 'timestamp'] as const;
export type TagVariable = (typeof TAG_VARIABLES)[number];

type Problem = { path: PropertyKey[]; message: string };

/** Rules that span fields, each reported at the path where the fix goes. */
export function crossFieldProblems(config: Config): Problem[] {
  const problems: Problem[] = [];
  const policyNames = new Map<string, number>();
  for (const [p, policy] of config.policies.entries()) {
    const at = ['policies', p];
    const first = policyNames.get(policy.name);
    if (first === undefined) policyNames.set(policy.name, p);
    else problems.push(duplicate([...at, 'name'], 'policy name', policy.name, `policies[${first}]`));

    const scheduleNames = new Map<string, number>();
    for (const [s, schedule] of policy.schedules.entries()) {
      if (schedule.name === ON_DEMAND_SCHEDULE) {
        problems.push({
          path: [...at, 'schedules', s, 'name'],
          message: `schedule name "${ON_DEMAND_SCHEDULE}" is reserved for on-demand backups (snapkeeper backup); rename the schedule, e.g. "manual"`,
        });
      }
      const seen = scheduleNames.get(schedule.name);
      if (seen === undefined) scheduleNames.set(schedule.name, s);
      else
        problems.push(
          duplicate([...at, 'schedules', s, 'name'], 'schedule name', schedule.name, `schedules[${seen}]`),
        );
      if (!schedule.ami && schedule.deprecateAfterDays !== undefined) {
        problems.push({
          path: [...at, 'schedules', s, 'deprecateAfterDays'],
          message: 'deprecateAfterDays applies to AMIs only; add "ami": true or remove it',
        });
      }
      if (schedule.ami && policy.targets === 'volumes') {
        problems.push({
          path: [...at, 'schedules', s, 'ami'],
          message:
            'ami: true needs "targets": "instances" (an AMI is made of an instance); remove ami or change targets',
        });
      }
    }

    const copyRegions = new Map<string, number>();
    for (const [c, copy] of policy.copies.entries()) {
      const regionPath = [...at, 'copies', c, 'region'];
      if (copy.region === config.region) {
        problems.push({
          path: regionPath,
          message: `copy Region "${copy.region}" is the config region; a DR copy must go to another Region, e.g. "us-west-2"`,
        });
      }
      const seen = copyRegions.get(copy.region);
      if (seen === undefined) copyRegions.set(copy.region, c);
      else problems.push(duplicate(regionPath, 'copy Region', copy.region, `copies[${seen}]`));
      for (const [n, scheduleName] of (copy.schedules ?? []).entries()) {
        if (!scheduleNames.has(scheduleName) && scheduleName !== ON_DEMAND_SCHEDULE) {
          problems.push({
            path: [...at, 'copies', c, 'schedules', n],
            message: `no schedule named "${scheduleName}" in policy "${policy.name}"; use one of: ${[...scheduleNames.keys(), ON_DEMAND_SCHEDULE].join(', ')}`,
          });
        }
      }
    }

    for (const [key, value] of Object.entries(policy.tags)) {
      const problem = tagVariableProblem(key, policy.targets) ?? tagVariableProblem(value, policy.targets);
      if (problem) problems.push({ path: [...at, 'tags', key], message: problem });
    }
  }
  return problems;
}

function duplicate(path: PropertyKey[], what: string, value: string, firstAt: string): Problem {
  return {
    path,
    message: `duplicate ${what} "${value}" (also at ${firstAt}); each must be unique, rename or merge one`,
  };
}

function tagVariableProblem(text: string, targets: Policy['targets']): string | undefined {
  for (const [, variable = ''] of text.matchAll(/\$\(([^)]*)\)/g)) {
    if (!(TAG_VARIABLES as readonly string[]).includes(variable)) {
      return `unknown variable "$(${variable})"; use ${TAG_VARIABLES.map((v) => `$(${v})`).join(', ')}`;
    }
    if (variable === 'volume-id' && targets === 'instances') {
      return 'cannot use $(volume-id) in an instances policy: one CreateSnapshots call gives every snapshot of the set the same tags, so a per-volume value cannot be filled in; use $(instance-id), or snapkeeper:source-volume which is already on each snapshot';
    }
  }
  if (text.replace(/\$\([^)]*\)/g, '').includes('$(')) {
    return 'unclosed "$("; write variables as $(name), e.g. $(policy)';
  }
  return undefined;
}
