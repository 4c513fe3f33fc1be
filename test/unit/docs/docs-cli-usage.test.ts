import { describe, expect, it } from 'vitest';
import { cliCommands, cliOutput } from '../../../scripts/docs/cli-reference.ts';
import { cliUsageProblems } from '../../../scripts/docs/doc-checks.ts';
import { repositoryPages } from './docs-pages.ts';

/** SPEC commands the pages (the README's status table first) describe as not built yet. */
const NOT_BUILT = ['drill'];

async function flagsOfEveryCommand(): Promise<Map<string, Set<string>>> {
  const flags = new Map<string, Set<string>>();
  for (const command of await cliCommands()) {
    const help = (await cliOutput([command, '--help'])).stdout;
    flags.set(command, new Set(help.match(/--[a-z][a-z-]*/g) ?? []));
  }
  return flags;
}

describe('snapkeeper commands shown in the pages', () => {
  it('exist and take the flags shown with them', async () => {
    expect(cliUsageProblems(repositoryPages(), await flagsOfEveryCommand(), NOT_BUILT)).toEqual([]);
  });

  it('are still unbuilt where the pages say so; a command built since needs its status updated', async () => {
    const commands = await cliCommands();
    const builtSince = NOT_BUILT.filter((command) => commands.includes(command));
    expect(
      builtSince,
      'built now: mark them built in README.md and docs/, and drop them from NOT_BUILT',
    ).toEqual([]);
  });

  it('fail for an unknown command or a flag the command does not take', () => {
    const flags = new Map([['restore', new Set(['--volume', '--az'])]]);
    const text =
      'run `snapkeeper restore --volume V --zone Z`, then\n```\n$ npx snapkeeper restor --volume V\n```\n';
    expect(cliUsageProblems([{ path: 'docs/x.md', text }], flags, ['drill'])).toEqual([
      'docs/x.md: shows "snapkeeper restor", which is no command; fix the page',
      'docs/x.md: shows "snapkeeper restore --zone", a flag restore does not take; fix the page',
    ]);
  });
});
