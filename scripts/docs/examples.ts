/**
 * Examples in docs/configuration.md taken from the repository and the CLI rather than copied by hand: the
 * example config is the file at the root (the one the demo uses and the CDK app deploys), and the validation
 * example is what the CLI really prints for a broken copy of it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliOutput } from './cli-reference.ts';

const exampleFile = new URL('../../snapkeeper.config.json', import.meta.url);

/** snapkeeper.config.json as a fenced block. */
export async function renderExampleConfig(): Promise<string> {
  return ['```json', (await readFile(exampleFile, 'utf8')).trimEnd(), '```'].join('\n');
}

/** The example config with two mistakes, and what `snapkeeper generations` says about it, exit status included. */
export async function renderValidationExample(): Promise<string> {
  const config = JSON.parse(await readFile(exampleFile, 'utf8'));
  const schedule = config.policies[0].schedules[0];
  schedule.expression = 'cron(0 * * * *)';
  schedule.keep = {};
  const folder = await mkdtemp(join(tmpdir(), 'snapkeeper-docs-'));
  try {
    const path = join(folder, 'bad.json');
    await writeFile(path, JSON.stringify(config, null, 2));
    const { stderr, status } = await cliOutput(['generations', '--config', path]);
    return [
      'With the first schedule of the example changed to `"expression": "cron(0 * * * *)"` (Unix cron) and `"keep": {}`:',
      '',
      '```',
      '$ npx snapkeeper generations --config bad.json',
      stderr.replaceAll(path, 'bad.json').trimEnd(),
      '$ echo $?',
      String(status),
      '```',
    ].join('\n');
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
