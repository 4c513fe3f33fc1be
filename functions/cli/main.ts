import { Command, CommanderError, Help, type Option } from 'commander';
import { ConfigError, describeErrorChain, InputError } from '#core/model/errors.ts';
import { type CliIo, cliOver, EXIT } from './command.ts';
import { COMMANDS, summaryOf } from './commands/index.ts';
import { cliVersion } from './conventions.ts';

export { type CliIo, EXIT } from './command.ts';

/** Runs the snapkeeper CLI with `argv` (without `node` and the script) and returns its exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = new Command('snapkeeper')
    .description('Tag-driven EBS snapshot and AMI backups: plan, run, list and restore generations.')
    .version(cliVersion(), '-V, --version', 'the version of snapkeeper')
    .exitOverride()
    .configureHelp({ optionDescription: requiredMarked })
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');
  const cli = cliOver(program, io, summaryOf);
  const asked = commandAsked(argv);
  try {
    // The command asked for is added whole; the others only as their name, summary and common options, which is
    // all the listing of `--help` shows.
    for (const entry of COMMANDS) {
      if (entry.name === asked) (await entry.load())(cli);
      else cli.command(entry.name);
    }
    await program.parseAsync([...argv], { from: 'user' });
    return cli.status();
  } catch (error) {
    return reportError(error, argv.includes('--json'), io);
  }
}

/** The command `argv` names: its first word (the program takes no option with a value), or the one after `help`. */
function commandAsked(argv: readonly string[]): string | undefined {
  const words = argv.filter((arg) => !arg.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** `--help` says which options a command cannot run without (commander itself does not). */
function requiredMarked(option: Option): string {
  const description = new Help().optionDescription(option);
  return option.mandatory ? `(required) ${description}` : description;
}

function reportError(error: unknown, json: boolean, io: CliIo): number {
  if (error instanceof CommanderError) {
    // Help and version are not errors; everything else commander rejects is a bad flag or argument.
    if (error.exitCode === 0) return EXIT.ok;
    if (json) io.stdout(`${JSON.stringify({ error: { kind: 'InputError', message: error.message } })}\n`);
    return EXIT.badInput;
  }
  const badInput = error instanceof ConfigError || error instanceof InputError;
  const kind = error instanceof Error ? error.name : 'Error';
  const message = describeErrorChain(error);
  io.stderr(`snapkeeper: ${message}\n`);
  if (json) io.stdout(`${JSON.stringify({ error: { kind, message } })}\n`);
  return badInput ? EXIT.badInput : EXIT.failed;
}
