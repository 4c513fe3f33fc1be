import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { cliCommands } from '../../../scripts/docs/cli-reference.ts';
import { GENERATED } from '../../../scripts/docs/generated.ts';
import { MissingRegionError, regionOf, withRegion } from '../../../scripts/docs/regions.ts';

const page = (path: string) => readFile(new URL(`../../../${path}`, import.meta.url), 'utf8');

describe('the generated parts of docs/', () => {
  for (const { page: path, region, render } of GENERATED) {
    it(`${path} (${region}) matches the code; run npm run docs if not`, async () => {
      expect(regionOf(await page(path), region)).toBe(await render());
    });
  }

  it('documents the flags of every command the CLI has', async () => {
    const cli = await page('docs/cli.md');
    const commands = await cliCommands();
    expect(commands).toEqual(expect.arrayContaining(['run', 'restore', 'generations']));
    for (const name of commands) expect(cli).toContain(`$ snapkeeper ${name} --help`);
  });

  it('lists every key of the configuration, nested ones too', async () => {
    const reference = regionOf(await page('docs/configuration.md'), 'config-reference');
    for (const key of ['stuckAfterMinutes', 'maxInFlightByRegion', 'keepNewestDays', 'amiDataVolumes']) {
      expect(reference).toContain(`| \`${key}\` |`);
    }
  });
});

describe('generated regions', () => {
  it('replace only the text between their markers', () => {
    const text = 'before\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nafter\n';
    expect(withRegion(text, 'x', 'new')).toBe(
      'before\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nafter\n',
    );
  });

  it('name the markers to add when a page lacks them', () => {
    expect(() => regionOf('no markers', 'x')).toThrow(MissingRegionError);
    expect(() => regionOf('no markers', 'x')).toThrow('<!-- generated:x -->');
  });
});
