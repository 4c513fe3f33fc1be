import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'vitest';
import { FREEZE_REPORT, thawOutcome, volumesFrozen } from '#core/backup/freeze-report.ts';
import type { InstanceInfo } from '#core/backup/ports.ts';
import { type Filesystem, withRig } from './rig.ts';

// The real document script on real loop filesystems: what it freezes, what it reports, what it leaves thawed.

const instanceOf = (...filesystems: Filesystem[]): InstanceInfo => ({
  instanceId: 'i-0123456789abcdef0',
  state: 'running',
  tags: {},
  volumes: filesystems.map((fs, i) => ({ volumeId: fs.volumeId, deviceName: `/dev/sd${'fghij'[i]}` })),
});
const frozenLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith(FREEZE_REPORT.frozen));

describe.concurrent('the Linux freeze script', () => {
  for (const shell of ['/bin/sh', '/bin/bash']) {
    withRig(
      `freezes ext4 and xfs, reports both, and thaws both when its thaw comes (${shell})`,
      async ({ rig, expect }) => {
        const ext4 = rig.filesystem('data', 'ext4');
        const xfs = rig.filesystem('logs', 'xfs');
        const freeze = await rig.run('Freeze', 'gen-a-1', { timeoutSeconds: 20, notAfterMs: 5_000, shell });
        expect(freeze.code, freeze.stderr).toBe(0);
        expect(volumesFrozen(freeze.stdout, instanceOf(ext4, xfs))).toEqual(
          new Set([ext4.volumeId, xfs.volumeId]),
        );
        expect(await rig.write(ext4.mount)).toBe('blocked');
        expect(await rig.write(xfs.mount)).toBe('blocked');
        expect(rig.watchdogAlive('gen-a-1')).toBe(true);

        const thaw = await rig.run('Thaw', 'gen-a-1', { timeoutSeconds: 20, notAfterMs: 5_000, shell });
        expect(thaw.code, thaw.stderr).toBe(0);
        expect(thawOutcome(thaw.stdout)).toBe('held');
        expect(await rig.write(ext4.mount)).toBe('written');
        expect(await rig.write(xfs.mount)).toBe('written');
        expect(rig.watchdogAlive('gen-a-1')).toBe(false);
        expect(existsSync(join(rig.state, 'active'))).toBe(false);
      },
    );
  }

  withRig(
    'freezes a mount point with a space in its name and reports it as one word',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data disk');
      const freeze = await rig.run('Freeze', 'gen-space-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(freeze.code, freeze.stderr).toBe(0);
      expect(frozenLines(freeze.stdout)).toEqual([
        `${FREEZE_REPORT.frozen} ${fs.mount.replace(' ', '\\040')} ${fs.device} ${fs.volumeId.replace('-', '')}`,
      ]);
      expect(volumesFrozen(freeze.stdout, instanceOf(fs))).toEqual(new Set([fs.volumeId]));
      expect(await rig.write(fs.mount)).toBe('blocked');
      await rig.run('Thaw', 'gen-space-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );

  withRig(
    'freezes a filesystem mounted twice (a bind mount) once, and both paths block and thaw',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const bound = rig.bind(fs, 'data-again');
      const freeze = await rig.run('Freeze', 'gen-bind-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(freeze.code, freeze.stderr).toBe(0);
      expect(frozenLines(freeze.stdout)).toHaveLength(1);
      expect(await rig.write(bound)).toBe('blocked');
      await rig.run('Thaw', 'gen-bind-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(await rig.write(fs.mount)).toBe('written');
      expect(await rig.write(bound)).toBe('written');
    },
  );

  withRig('syncs but never freezes the filesystem holding the SSM agent state', async ({ rig, expect }) => {
    const agentFs = rig.filesystem('root');
    const data = rig.filesystem('data');
    rig.agentOn(agentFs);
    const freeze = await rig.run('Freeze', 'gen-agent-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
    expect(freeze.code, freeze.stderr).toBe(0);
    expect(volumesFrozen(freeze.stdout, instanceOf(agentFs, data))).toEqual(new Set([data.volumeId]));
    expect(await rig.write(agentFs.mount)).toBe('written');
    expect(await rig.write(data.mount)).toBe('blocked');
    await rig.run('Thaw', 'gen-agent-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
  });

  withRig(
    'thaws everything it froze and fails when one of several filesystems cannot be frozen',
    async ({ rig, expect }) => {
      const first = rig.filesystem('first');
      const busy = rig.filesystem('busy', 'xfs');
      const last = rig.filesystem('last');
      // Frozen by someone else: the script's fsfreeze gets EBUSY, and it must not thaw what it did not freeze.
      rig.freezeOutside(busy);
      const freeze = await rig.run('Freeze', 'gen-fail-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(freeze.code).not.toBe(0);
      expect(freeze.stdout).not.toContain(FREEZE_REPORT.ok);
      expect(freeze.stderr).toContain(`fsfreeze failed on ${busy.mount}`);
      expect(await rig.write(first.mount)).toBe('written');
      expect(await rig.write(last.mount)).toBe('written');
      expect(await rig.write(busy.mount)).toBe('blocked');
      expect(rig.watchdogAlive('gen-fail-1')).toBe(false);
      expect(existsSync(join(rig.state, 'active'))).toBe(false);
      const thaw = await rig.run('Thaw', 'gen-fail-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(thawOutcome(thaw.stdout)).toBe('none');
    },
  );

  withRig(
    'refuses to freeze when its thaw already came (a freeze delivered after its thaw)',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const thaw = await rig.run('Thaw', 'gen-late-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(thaw.code, thaw.stderr).toBe(0);
      expect(thawOutcome(thaw.stdout)).toBe('none');
      const freeze = await rig.run('Freeze', 'gen-late-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(freeze.code).not.toBe(0);
      expect(freeze.stderr).toContain('its thaw already came; not freezing');
      expect(await rig.write(fs.mount)).toBe('written');
    },
  );

  withRig(
    'runs a freeze id once: a duplicate delivery neither freezes again nor disturbs the first',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const first = await rig.run('Freeze', 'gen-dup-1', { timeoutSeconds: 20, notAfterMs: 3_000 });
      expect(first.code, first.stderr).toBe(0);
      const again = await rig.run('Freeze', 'gen-dup-1', { timeoutSeconds: 20, notAfterMs: 1_500 });
      expect(again.code).not.toBe(0);
      expect(await rig.write(fs.mount)).toBe('blocked');
      expect(rig.watchdogAlive('gen-dup-1')).toBe(true);
      const thaw = await rig.run('Thaw', 'gen-dup-1', { timeoutSeconds: 20, notAfterMs: 5_000 });
      expect(thawOutcome(thaw.stdout)).toBe('held');
    },
  );

  withRig(
    'refuses a NotAfter already past, and parameters SSM would refuse never reach the shell',
    async ({ rig, expect }) => {
      const fs = rig.filesystem('data');
      const late = await rig.run('Freeze', 'gen-past-1', { timeoutSeconds: 20, notAfterMs: -1_000 });
      expect(late.code).not.toBe(0);
      expect(late.stderr).toContain('arrived after NotAfter');
      expect(await rig.write(fs.mount)).toBe('written');
      expect(() =>
        rig.run('Freeze', "x'; touch /tmp/pwned; '", { timeoutSeconds: 20, notAfterMs: 1_000 }),
      ).toThrow(/SSM would refuse FreezeId/);
    },
  );
});
