/**
 * Writes the generated regions of docs/ (the configuration reference from the config schema, the CLI flag
 * reference from the CLI's own help, the deploy guide's resource table from the synthesized stacks). Run with
 * `npm run docs` after changing any of them; the hand-written text around each region is kept.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { DEPLOY_GENERATED } from './docs/deploy-guide.ts';
import { GENERATED } from './docs/generated.ts';
import { withRegion } from './docs/regions.ts';

for (const { page, region, render } of [...GENERATED, ...DEPLOY_GENERATED]) {
  const url = new URL(`../${page}`, import.meta.url);
  const before = await readFile(url, 'utf8');
  const after = withRegion(before, region, await render());
  if (after !== before) await writeFile(url, after);
  console.log(`${after === before ? 'unchanged' : 'wrote'} ${page} (${region})`);
}
