import { Command, CommanderError, Help, type Option } from 'commander';
import { ConfigError, describeErrorChain, InputError } from '#core/model/errors.ts';
import { type CliIo, cliOver, EXIT } from './command.ts';
import { backupCommand } from './commands/backup.ts';
import { copyCommand } from './commands/copy.ts';
import { generationsCommand } from './commands/generations.ts';
import { initCommand } from './commands/init.ts';
import { planCommand } from './commands/plan.ts';
import { rebuildCatalogCommand } from './commands/rebuild-catalog.ts';
import { reconcileCommand } from './commands/reconcile.ts';
import { replaceVolumeCommand } from './commands/replace-volume.ts';
import { reportCommand } from './commands/report.ts';
import { restoreCommand } from './commands/restore.ts';
import { restoreInstanceCommand } from './commands/restore-instance.ts';
import { runCommand } from './commands/run.ts';
import { sandboxCommand } from './commands/sandbox.ts';
import { validateCommand } from './commands/validate.ts';
import { cliVersion } from './conventions.ts';

export { type CliIo, EXIT } from './command.ts';

/** The commands in the order `--help` lists them. */
const COMMANDS = [
  validateCommand,
  initCommand,
  planCommand,
  runCommand,
  backupCommand,
  reconcileCommand,
  copyCommand,
  generationsCommand,
  reportCommand,
  restoreCommand,
  replaceVolumeCommand,
  restoreInstanceCommand,
  rebuildCatalogCommand,
  sandboxCommand,
];

/** Runs the snapkeeper CLI with `argv` (without `node` and the script) and returns its exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = new Command('snapkeeper')
    .description('Tag-driven EBS snapshot and AMI backups: plan, run, list and restore generations.')
    .version(cliVersion(), '-V, --version', 'the version of snapkeeper')
    .exitOverride()
    .configureHelp({ optionDescription: requiredMarked })
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');
  const cli = cliOver(program, io);
  for (const add of COMMANDS) add(cli);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return cli.status();
  } catch (error) {
    return reportError(error, argv.includes('--json'), io);
  }
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
