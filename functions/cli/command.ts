import type { Command } from 'commander';
import type { AwsClients } from '#adapters/clients.ts';
import { type Config, loadConfigFile } from '#core/config/config.ts';
import { InputError } from '#core/model/errors.ts';
import { MARK_KEY_ENV } from '#core/model/mark.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { actionable } from './actionable.ts';
import { consoleLog } from './console-log.ts';
import { CONFIG_LOOKUP, checkProfile, configPath, talkingTo } from './conventions.ts';

// The AWS SDK (clients, the composition root, the sandbox's setup) is imported where a command runs, never at
// load: `--help` and every command but the one asked for stay off it (commands/index.ts).

/** Where the CLI writes and what it builds clients with; tests and the demo pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  clients?: AwsClients;
  /** The terminal's width, for output that fits it; default `COLUMNS`, else 100. */
  columns?: number;
}

/** The options every command takes (SPEC §7, and aws-cli's `--region` and `--profile`). */
export interface CommonOptions {
  /** Absent: the first of `CONFIG_LOOKUP` found (`conventions.ts`). */
  config?: string;
  json: boolean;
  quiet: boolean;
  region?: string;
  profile?: string;
}

/** Exit statuses of SPEC §7. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/** A result whose command ran but where something failed: exit 1 with the output still printed. */
export class PartialFailure {
  constructor(
    readonly output: unknown,
    readonly text: string,
  ) {}
}

/** A command's work: the loaded config and options in, the JSON output and its text rendering out. */
export type CommandWork<O extends CommonOptions> = (
  config: Config,
  options: O,
  clients: AwsClients,
) => Promise<[unknown, string]>;

/** What a command module gets to add its command to the program. */
export interface Cli {
  /** A new subcommand with its summary (`summaryOf`, from commands/index.ts) and the common options. */
  command(name: string): Command;
  /** The action that loads the config, runs `work` and prints its output as text or JSON. */
  act<O extends CommonOptions>(work: CommandWork<O>): (options: O) => Promise<void>;
  /** The command's log on stderr; --quiet keeps warnings and errors only. */
  log(options: CommonOptions): Log;
  /** How wide the terminal is, in characters. */
  columns(): number;
  /** The terminal's width when stdout is one (`CliIo.columns`); absent (a pipe, a file, a test), a listing's
   * lines are whole. */
  readonly terminal?: number;
  /** Prints `output` as JSON with --json, else `lines`: for a command that keeps running after it printed. */
  print(options: CommonOptions, output: unknown, lines: string[]): void;
}

/**
 * The shared command plumbing over `program`. `status()` is the exit status so far: a command that ran
 * but ended in a PartialFailure sets it to 1.
 */
export function cliOver(
  program: Command,
  io: CliIo,
  summaryOf: (name: string) => string,
): Cli & { status(): number } {
  let status: number = EXIT.ok;
  return {
    status: () => status,
    ...(io.columns ? { terminal: io.columns } : {}),
    command: (name) =>
      program
        .command(name)
        .description(summaryOf(name))
        .option(
          '-c, --config <file>',
          `configuration file (JSON or YAML); default the first found of ${CONFIG_LOOKUP.map((f) => `./${f}`).join(', ')}`,
        )
        .option(
          '--region <region>',
          "the AWS Region to work in; default the config's region (not AWS_REGION)",
        )
        .option(
          '--profile <name>',
          'the AWS shared-config profile to sign with (sets what AWS_PROFILE would)',
        )
        .option('--json', 'print one JSON document on stdout and nothing else there', false)
        .option('-q, --quiet', 'no progress lines on stderr', false),
    act: (work) => async (options) => {
      const loaded = await loadConfigFile(configPath(options.config));
      const config = talkingTo(loaded, options.region, process.env, io.stderr);
      const profile = options.profile === undefined ? {} : { profile: checkProfile(options.profile) };
      const { AwsClients, clientOptionsFromEnv } = await import('#adapters/clients.ts');
      const clients = io.clients ?? new AwsClients({ ...clientOptionsFromEnv(process.env), ...profile });
      try {
        const [output, text] = await work(config, options, clients);
        io.stdout(`${options.json ? JSON.stringify(output, null, 2) : text}\n`);
      } catch (error) {
        if (!(error instanceof PartialFailure)) throw actionable(error, config, process.env);
        io.stdout(`${options.json ? JSON.stringify(error.output, null, 2) : error.text}\n`);
        status = EXIT.failed;
      }
    },
    log: (options) => consoleLog(io.stderr, options.quiet ? 'warn' : 'info'),
    columns: () => io.columns || Number(process.env.COLUMNS) || 100,
    print: (options, output, lines) =>
      io.stdout(options.json ? `${JSON.stringify(output)}\n` : `${lines.join('\n')}\n`),
  };
}

/** A `--policy` must name a policy of the config. */
export function checkPolicy(config: Config, name: string | undefined): void {
  if (name && !config.policies.some((p) => p.name === name)) {
    throw new InputError(
      `no policy named "${name}" in the config; policies: ${config.policies.map((p) => p.name).join(', ')}`,
    );
  }
}

/** The copy queue's URL when the config copies anywhere; the queue must exist (`init` creates it locally). */
export async function queueUrlOf(config: Config, clients: AwsClients): Promise<string | undefined> {
  if (!config.policies.some((p) => p.copies.length > 0)) return undefined;
  const { copyQueueUrl } = await import('./sandbox-setup.ts');
  return copyQueueUrl(clients.sqs(config.region), config.copyQueue.name);
}

/**
 * The mark key's SSM parameter: `SNAPKEEPER_MARK_KEY_PARAMETER` when set (the stack's `MarkKeyParameter` output,
 * to work on a deployed stack), else the sandbox's, which `init` creates.
 */
export function markKeyParameterOf(): string | undefined {
  return process.env[MARK_KEY_ENV] || undefined;
}

/** A clock that starts at `at` and runs at real speed: how `--at` replays a schedule on a simulated clock. */
export function clockFrom(at: string | undefined): Clock {
  const offset = at ? Date.parse(at) - Date.now() : 0;
  return { now: () => new Date(Date.now() + offset) };
}
