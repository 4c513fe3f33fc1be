import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'vitest';
import { FREEZE_REPORT, thawOutcome } from '#core/backup/freeze-report.ts';
import { sleep, withRig } from './rig.ts';

// The real document script when time goes wrong: a slow sync, a lost thaw, two freezes on one instance at once.

describe.concurrent('the Linux freeze script under races', () => {
  withRig(
    'never freezes when its thaw came during a sync that outlasted the orchestrator (a)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      rig.slowSync(2);
      const freeze = rig.run('Freeze', 'gen-slow-1', { timeoutSeconds: 20, notAfterMs: 10_000 });
      await sleep(500);
      // The thaw meets the freeze in its sync: it waits for it (the lock), and the freeze stops before freezing.
      const thaw = await rig.run('Thaw', 'gen-slow-1', { timeoutSeconds: 20, notAfterMs: 10_000 });
      expect(thaw.code, thaw.stderr).toBe(0);
      expect(thawOutcome(thaw.stdout)).toBe('none');
      const frozen = await freeze;
      expect(frozen.code).not.toBe(0);
      expect(frozen.stdout).not.toContain(FREEZE_REPORT.ok);
      expect(frozen.stderr).toContain('came before');
      expect(await rig.write(fs.mount)).toBe('written');
      await sleep(500);
      expect(await rig.write(fs.mount)).toBe('written');
      expect(rig.watchdogAlive('gen-slow-1')).toBe(false);
    },
  );

  withRig(
    'makes a second freeze wait for the first to be thawed, then freezes with its own watchdog (c)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const hourly = await rig.run('Freeze', 'gen-hourly-1', { timeoutSeconds: 3, notAfterMs: 1_500 });
      expect(hourly.code, hourly.stderr).toBe(0);
      const daily = rig.run('Freeze', 'gen-daily-1', { timeoutSeconds: 8, notAfterMs: 4_000 });
      await sleep(700);
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thawHourly = await rig.run('Thaw', 'gen-hourly-1', { timeoutSeconds: 3, notAfterMs: 3_000 });
      expect(thawOutcome(thawHourly.stdout)).toBe('held');
      const second = await daily;
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toContain(`${FREEZE_REPORT.frozen} ${fs.mount}`);
      // Past the first freeze's watchdog time, the second is still frozen: no watchdog but its own ends it.
      await sleep(2_000);
      expect(rig.watchdogAlive('gen-daily-1')).toBe(true);
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thawDaily = await rig.run('Thaw', 'gen-daily-1', { timeoutSeconds: 8, notAfterMs: 3_000 });
      expect(thawOutcome(thawDaily.stdout)).toBe('held');
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );

  withRig(
    'makes a second freeze refuse at its NotAfter, naming the first, without touching it (c)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const first = await rig.run('Freeze', 'gen-first-1', { timeoutSeconds: 20, notAfterMs: 1_500 });
      expect(first.code, first.stderr).toBe(0);
      const second = await rig.run('Freeze', 'gen-second-1', { timeoutSeconds: 20, notAfterMs: 1_000 });
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain("freeze gen-first-1 still holds this instance's freeze lock");
      expect(await rig.write(fs.mount)).toBe('blocked');
      expect(rig.watchdogAlive('gen-first-1')).toBe(true);
      // The second's thaw (the orchestrator sends one after any failed freeze) leaves the first frozen.
      const stray = await rig.run('Thaw', 'gen-second-1', { timeoutSeconds: 20, notAfterMs: 2_000 });
      expect(thawOutcome(stray.stdout)).toBe('none');
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thaw = await rig.run('Thaw', 'gen-first-1', { timeoutSeconds: 20, notAfterMs: 2_000 });
      expect(thawOutcome(thaw.stdout)).toBe('held');
    },
  );

  withRig(
    'lets exactly one of two freezes sent at the same moment hold the filesystems at a time (c)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const ids = ['gen-left-1', 'gen-right-1'] as const;
      const runs = ids.map((id) =>
        rig.run('Freeze', id, { timeoutSeconds: 10, notAfterMs: 5_000 }).then((r) => ({ id, ...r })),
      );
      const winner = await Promise.race(runs);
      expect(winner.code, winner.stderr).toBe(0);
      const loser = ids.find((id) => id !== winner.id) as string;
      await sleep(500);
      expect(existsSync(join(rig.state, loser, 'started'))).toBe(false);
      await rig.run('Thaw', winner.id, { timeoutSeconds: 10, notAfterMs: 3_000 });
      const [left, right] = await Promise.all(runs);
      expect([left?.code, right?.code]).toEqual([0, 0]);
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thaw = await rig.run('Thaw', loser, { timeoutSeconds: 10, notAfterMs: 3_000 });
      expect(thawOutcome(thaw.stdout)).toBe('held');
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );
});
