/**
 * The flag reference in docs/cli.md, rendered from the CLI itself: each command's `--help`, exactly as
 * commander prints it from the options defined in functions/cli/main.ts, so no flag, default or choice
 * can be documented that the command does not have.
 */
import { runCli } from '#cli/main.ts';

/** What a CLI invocation printed, and its exit status. */
export interface CliOutput {
  stdout: string;
  stderr: string;
  status: number;
}

/** Runs `snapkeeper <argv>` in this process, at commander's default width and without colour. */
export async function cliOutput(argv: string[]): Promise<CliOutput> {
  // A terminal's width or colours would make the page depend on who ran `npm run docs`.
  const tty = process.stdout.isTTY;
  const noColor = process.env.NO_COLOR;
  process.stdout.isTTY = false;
  process.env.NO_COLOR = '1';
  const output = { stdout: '', stderr: '', status: 0 };
  try {
    output.status = await runCli(argv, {
      stdout: (text) => {
        output.stdout += text;
      },
      stderr: (text) => {
        output.stderr += text;
      },
    });
  } finally {
    process.stdout.isTTY = tty;
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
  }
  return output;
}

async function helpOf(argv: string[]): Promise<string> {
  return (await cliOutput(argv)).stdout.trimEnd();
}

/** The command names `snapkeeper --help` lists, in its order. */
export async function cliCommands(): Promise<string[]> {
  const help = await helpOf(['--help']);
  const list = help.slice(help.indexOf('Commands:'));
  return [...list.matchAll(/^ {2}([a-z][a-z-]*)/gm)]
    .map((match) => match[1] ?? '')
    .filter((name) => name !== 'help');
}

/** One section per command with its `--help` output, after the top-level help. */
export async function renderCliReference(): Promise<string> {
  const parts = ['```', '$ snapkeeper --help', await helpOf(['--help']), '```'];
  for (const name of await cliCommands()) {
    parts.push(
      '',
      `### \`${name}\``,
      '',
      '```',
      `$ snapkeeper ${name} --help`,
      await helpOf([name, '--help']),
      '```',
    );
  }
  return parts.join('\n');
}
