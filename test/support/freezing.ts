import { type RunRequest, runSchedule } from '#core/backup/run.ts';
import type { ConsistencyRule, Policy } from '#core/config/config.ts';
import type { Deadline } from '#core/model/ports.ts';
import { FakeAgent, fakeTimer } from './fake-agent.ts';
import { FakeImages } from './fake-images.ts';
import { aConfig, aPolicy, aWorld, type FleetInstance, SCHEDULED_AT } from './fakes.ts';

/** What snapkeeper's Linux freeze document prints when it froze these volumes. */
export const freezeReport = (...volumeIds: string[]) =>
  [
    ...volumeIds.map((id, i) => `SNAPKEEPER_FROZEN /d${i} /dev/nvme${i + 1}n1 ${id.replace('-', '')}`),
    'SNAPKEEPER_FREEZE_OK',
  ].join('\n');

/**
 * The `daily` policy with a freeze (filesystem mode unless `consistency` says otherwise), over fakes, with a fake
 * agent that freezes every volume it is asked to and fake AMIs for `ami` schedules.
 */
export function freezing(
  options: {
    onFailure?: 'crash' | 'skip';
    timeoutSeconds?: number;
    consistency?: Partial<ConsistencyRule>;
    policy?: Partial<Policy>;
  } = {},
) {
  const config = aConfig({
    policies: [
      aPolicy({
        consistency: {
          mode: 'filesystem',
          timeoutSeconds: options.timeoutSeconds ?? 10,
          onFailure: options.onFailure ?? 'crash',
          ...options.consistency,
        },
        ...(options.policy as object),
      }),
    ],
  });
  const world = aWorld({ config });
  const agent = new FakeAgent(world.clock);
  const images = new FakeImages(world.ec2);
  const fleet = new Map<string, FleetInstance>();
  agent.outcome = (command) => ({
    state: 'succeeded',
    output:
      command.action === 'freeze' ? freezeReport(...(fleet.get(command.instanceId)?.volumeIds ?? [])) : '',
  });
  const add = (...instances: FleetInstance[]) => {
    for (const i of instances) fleet.set(i.instanceId, i);
    world.ec2.add(...instances);
  };
  const run = (deadline?: Deadline, request: Partial<RunRequest> = {}) =>
    runSchedule(
      { policy: 'daily', schedule: 'daily', scheduledAt: SCHEDULED_AT, ...request },
      {
        config,
        inventory: world.ec2,
        snapshots: world.ec2,
        account: world.ec2,
        catalog: world.catalog,
        clock: world.clock,
        log: world.log,
        markKey: world.markKey,
        freezeAgent: agent,
        images,
        timer: fakeTimer(world.clock),
        deadline,
      },
    );
  return { ...world, agent, images, add, run };
}
