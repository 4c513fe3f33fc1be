import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'vitest';
import { FREEZE_REPORT, thawOutcome } from '#core/backup/freeze-report.ts';
import { withRig } from './rig.ts';

// The real document script and its watchdog: armed before anything is frozen, ending exactly its own freeze.

describe.concurrent('the watchdog of the Linux freeze script', () => {
  withRig(
    'never freezes once its watchdog fired during a sync that outlasted TimeoutSeconds (b)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      rig.slowSync(3);
      const freeze = await rig.run('Freeze', 'gen-slower-1', { timeoutSeconds: 2, notAfterMs: 10_000 });
      expect(freeze.code).not.toBe(0);
      expect(freeze.stdout).not.toContain(FREEZE_REPORT.frozen);
      expect(await rig.write(fs.mount)).toBe('written');
      expect(existsSync(join(rig.state, 'active'))).toBe(false);
    },
  );

  withRig(
    'thaws a lost thaw by its watchdog within TimeoutSeconds, and the late thaw says so',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const started = performance.now();
      const freeze = await rig.run('Freeze', 'gen-lost-1', { timeoutSeconds: 2, notAfterMs: 1_000 });
      expect(freeze.code, freeze.stderr).toBe(0);
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thawedAt = await rig.startWrite(fs.mount).done;
      const frozenMs = thawedAt - started;
      // Armed before the freeze, so never later than TimeoutSeconds after the command started (plus scheduling).
      expect(frozenMs).toBeGreaterThan(1_500);
      expect(frozenMs).toBeLessThan(3_500);
      const late = await rig.run('Thaw', 'gen-lost-1', { timeoutSeconds: 2, notAfterMs: 2_000 });
      expect(thawOutcome(late.stdout)).toBe('watchdog');
    },
  );

  withRig(
    'ends a freeze whose watchdog died when the next freeze finds its lease long past its time',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const orphan = await rig.run('Freeze', 'gen-orphan-1', { timeoutSeconds: 2, notAfterMs: 1_000 });
      expect(orphan.code, orphan.stderr).toBe(0);
      rig.killWatchdog('gen-orphan-1');
      // Its lease names a watchdog time 2 s away; 5 s past that, the next freeze thaws it and takes the lease.
      const next = await rig.run('Freeze', 'gen-next-1', { timeoutSeconds: 20, notAfterMs: 12_000 });
      expect(next.code, next.stderr).toBe(0);
      expect(next.stderr).toContain('freeze gen-orphan-1 outlived its watchdog; thawing it');
      expect(next.ms).toBeGreaterThan(5_000);
      const late = await rig.run('Thaw', 'gen-orphan-1', { timeoutSeconds: 2, notAfterMs: 2_000 });
      expect(thawOutcome(late.stdout)).toBe('watchdog');
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thaw = await rig.run('Thaw', 'gen-next-1', { timeoutSeconds: 20, notAfterMs: 2_000 });
      expect(thawOutcome(thaw.stdout)).toBe('held');
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );

  withRig(
    'arms a systemd timer named for its freeze id when systemd runs, and the thaw stops exactly that timer',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const log = rig.useSystemd();
      const freeze = await rig.run('Freeze', 'gen-systemd-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(freeze.code, freeze.stderr).toBe(0);
      expect(readFileSync(log, 'utf8')).toMatch(
        /^run snapkeeper-thaw-gen-systemd-1 20 \/bin\/sh \S+ Watchdog gen-systemd-1 0$/m,
      );
      expect(await rig.write(fs.mount)).toBe('blocked');
      const thaw = await rig.run('Thaw', 'gen-systemd-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(thawOutcome(thaw.stdout)).toBe('held');
      expect(readFileSync(log, 'utf8')).toContain('stop snapkeeper-thaw-gen-systemd-1.timer');
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );

  withRig(
    'thaws a lost thaw through its systemd timer, and the late thaw says so',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      rig.useSystemd();
      const freeze = await rig.run('Freeze', 'gen-systemd-2', { timeoutSeconds: 2, notAfterMs: 1_000 });
      expect(freeze.code, freeze.stderr).toBe(0);
      expect(await rig.write(fs.mount)).toBe('blocked');
      const started = performance.now();
      await rig.startWrite(fs.mount).done;
      expect(performance.now() - started).toBeLessThan(3_000);
      const late = await rig.run('Thaw', 'gen-systemd-2', { timeoutSeconds: 2, notAfterMs: 2_000 });
      expect(thawOutcome(late.stdout)).toBe('watchdog');
    },
  );
});
