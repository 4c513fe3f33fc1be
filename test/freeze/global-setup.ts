import { spawnSync } from 'node:child_process';
import { aptInstall } from '../harness/apt.ts';

/**
 * The freeze tier runs the real freeze script on loop-mounted ext4 and xfs, so it needs root, loop devices and
 * `mkfs.xfs`. Without them it fails, naming what is missing: a tier that skipped would prove nothing. xfsprogs is
 * installed here when missing (CI runs as root on a fresh Debian machine), once.
 */
export default function setup(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the freeze tier mounts loop filesystems and freezes them: run it as root (CI does), e.g. `sudo npx vitest run --project freeze`',
    );
  }
  const loop = spawnSync('losetup', ['--find'], { encoding: 'utf8' });
  if (loop.status !== 0) {
    throw new Error(
      `no free loop device (losetup --find: ${loop.stderr.trim() || loop.error}); load the loop module (modprobe loop)`,
    );
  }
  for (const tool of ['fsfreeze', 'flock', 'findmnt', 'mkfs.ext4', 'setsid', 'tac']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is missing: install util-linux, coreutils and e2fsprogs`);
    }
  }
  if (spawnSync('sh', ['-c', 'command -v mkfs.xfs']).status !== 0)
    aptInstall('xfsprogs', 'mkfs.xfs is missing');
}
