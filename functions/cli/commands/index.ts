import type { Cli } from '../command.ts';

/** One command: what `--help` lists for it, and how to load the module that adds it. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<(cli: Cli) => void>;
}

/**
 * The commands in the order `--help` lists them. Only the module of the command asked for is loaded: each pulls in
 * the AWS SDK and the core through the composition root, and loading all of them made `snapkeeper --help` take
 * seconds (docs/benchmarks.md#cli-startup).
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'validate',
    summary: 'check the config file alone, calling no AWS API: exit 0 when valid, 2 naming each problem',
    load: async () => (await import('./validate.ts')).validateCommand,
  },
  {
    name: 'init',
    summary:
      'create the catalog table, copy queue, manifest bucket and mark key named in the config where missing',
    load: async () => (await import('./init.ts')).initCommand,
  },
  {
    name: 'plan',
    summary:
      'what the next run of each schedule would snapshot, copy and prune, and tag problems; changes nothing',
    load: async () => (await import('./plan.ts')).planCommand,
  },
  {
    name: 'run',
    summary: 'one scheduled run of a policy schedule, through the same code as the Lambda',
    load: async () => (await import('./run.ts')).runCommand,
  },
  {
    name: 'backup',
    summary:
      'an on-demand backup of a policy now, kept by its onDemand.keep.days and never counted against a schedule',
    load: async () => (await import('./backup.ts')).backupCommand,
  },
  {
    name: 'reconcile',
    summary:
      'advance pending generations, queue missing DR copies, apply retention in every Region, and prune',
    load: async () => (await import('./reconcile.ts')).reconcileCommand,
  },
  {
    name: 'copy',
    summary:
      'work the DR copy queue as the copy-worker Lambda does: start copies the Regions have slots for, record finished ones',
    load: async () => (await import('./copy.ts')).copyCommand,
  },
  {
    name: 'generations',
    summary: 'list generations, newest first',
    load: async () => (await import('./generations.ts')).generationsCommand,
  },
  {
    name: 'report',
    summary:
      'RPO, DR RPO and RTO per target, missed runs and gaps per schedule, storage, unprotected resources',
    load: async () => (await import('./report.ts')).reportCommand,
  },
  {
    name: 'restore',
    summary: 'restore-volume runbook: a new volume from a generation, waited until available',
    load: async () => (await import('./restore.ts')).restoreCommand,
  },
  {
    name: 'replace-volume',
    summary: 'replace-volume runbook: swap an attached volume for a restore of it, at the same device',
    load: async () => (await import('./replace-volume.ts')).replaceVolumeCommand,
  },
  {
    name: 'restore-instance',
    summary:
      'restore-instance runbook: launch an instance from an AMI generation and attach its restored data volumes',
    load: async () => (await import('./restore-instance.ts')).restoreInstanceCommand,
  },
  {
    name: 'rebuild-catalog',
    summary:
      'recreate catalog records from the manifests (run init first); records the catalog holds are kept',
    load: async () => (await import('./rebuild-catalog.ts')).rebuildCatalogCommand,
  },
  {
    name: 'sandbox',
    summary: 'run the realistic local AWS emulator on loopback until Ctrl-C, for the CLI and aws-cli',
    load: async () => (await import('./sandbox.ts')).sandboxCommand,
  },
];

/** The summary of `name`, for the command's own help; every command module's name is in COMMANDS. */
export function summaryOf(name: string): string {
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) throw new Error(`no command ${name} in functions/cli/commands/index.ts`);
  return entry.summary;
}
