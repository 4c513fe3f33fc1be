import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Installs a Debian package with apt-get, for a tier whose tool is missing (CI runs as root on a fresh Debian
 * machine). Throws naming the package and what apt-get said, so the tier fails instead of skipping.
 */
export function aptInstall(pkg: string, why: string): void {
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', pkg], {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  let result = install();
  if (result.status !== 0) {
    // A fresh machine has no package lists yet.
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
    result = install();
  }
  if (result.status !== 0) {
    throw new Error(
      `${why}, and apt-get install ${pkg} failed: ${(result.stderr ?? String(result.error)).trim()}`,
    );
  }
}
