// `npm run demo`: installs what is missing, then runs the demo (scripts/demo.ts) on the local emulator.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureNodeModules, root } from './bootstrap.mjs';

ensureNodeModules();
const result = spawnSync(
  join(root, 'node_modules', '.bin', 'tsx'),
  [join(root, 'scripts', 'demo.ts'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
    // The AWS SDK warns about Node 20 on every process start; the demo is easier to read without it.
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  },
);
process.exit(result.status ?? 1);
