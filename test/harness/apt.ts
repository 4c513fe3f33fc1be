import { spawnSync } from 'node:child_process';

// Tiers install at once (LocalStack's JDK at the start of `npm test`, the freeze tier's xfsprogs, the report test's
// chromium, in two lanes): apt-get refuses a second caller while the first holds dpkg's lock, so every install here
// waits its turn on one lock file instead.
const APT_LOCK = '/tmp/snapkeeper-apt.lock';

function aptGet(args: string[]) {
  return spawnSync('flock', [APT_LOCK, 'apt-get', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Installs a Debian package with apt-get, for a tier whose tool is missing (CI runs as root on a fresh Debian
 * machine). Throws naming the package and what apt-get said, so the tier fails instead of skipping.
 */
export function aptInstall(pkg: string, why: string, options: { recommends?: boolean } = {}): void {
  const install = () =>
    aptGet([
      'install',
      '-y',
      '-q',
      ...(options.recommends === false ? ['--no-install-recommends'] : []),
      pkg,
    ]);
  let result = install();
  if (result.status !== 0) {
    aptGet(['update', '-q']); // a fresh machine has no package lists yet
    result = install();
  }
  if (result.status !== 0) {
    throw new Error(
      `${why}, and apt-get install ${pkg} failed: ${(result.stderr ?? String(result.error)).trim()}`,
    );
  }
}
