import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { AwsClients } from '#adapters/clients.ts';
import { runSchedule } from '#core/backup/run.ts';
import { type Config, ConfigError, findSchedule, loadConfigFile } from '#core/config/config.ts';
import { retryCopy } from '#core/copies/queue.ts';
import { plan } from '#core/lifecycle/plan.ts';
import { reconcile } from '#core/lifecycle/reconcile.ts';
import { describeError, InputError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Clock } from '#core/model/ports.ts';
import { ManifestCatalog, rebuildCatalog } from '#core/recovery/manifests.ts';
import { restoreVolume } from '#core/recovery/restore.ts';
import {
  catalogFor,
  copyWorkerDeps,
  planDeps,
  reconcileDeps,
  requiredManifests,
  restoreDeps,
  runDeps,
  systemClock,
} from '#wiring';
import { consoleLog } from './console-log.ts';
import { pumpCopyQueue } from './copy-pump.ts';
import {
  formatCopy,
  formatGenerations,
  formatInit,
  formatPlan,
  formatRebuild,
  formatReconcile,
  formatRestore,
  formatRun,
} from './format.ts';
import { copyQueueUrl, ensureSandbox } from './sandbox-setup.ts';

/** Where the CLI writes and what it builds clients with; tests and the demo pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  clients?: AwsClients;
}

interface CommonOptions {
  config: string;
  json: boolean;
  quiet: boolean;
}

/** Exit statuses of SPEC §7. */
export const EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/** A result whose command ran but where something failed: exit 1 with the output still printed. */
class PartialFailure {
  constructor(
    readonly output: unknown,
    readonly text: string,
  ) {}
}

function isoTime(value: string): string {
  const time = new Date(value);
  if (Number.isNaN(time.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new InvalidArgumentError('expected an ISO-8601 time such as 2026-11-21T03:00:00Z');
  }
  return time.toISOString();
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

/** A `--policy` must name a policy of the config. */
function checkPolicy(config: Config, name: string | undefined): void {
  if (name && !config.policies.some((p) => p.name === name)) {
    throw new InputError(
      `no policy named "${name}" in the config; policies: ${config.policies.map((p) => p.name).join(', ')}`,
    );
  }
}

/** The config's manifest bucket, for the commands that work from manifests. */
/**
 * Whether `generations` reads the manifests: with --from-manifests, or with --region naming the manifest
 * Region (the primary Region reads the catalog; any other Region has nothing to read).
 */
function readsManifests(config: Config, options: { fromManifests: boolean; region?: string }): boolean {
  if (options.fromManifests || !options.region || options.region === config.region)
    return options.fromManifests;
  if (options.region === config.manifests?.region) return true;
  throw new InputError(
    `--region ${options.region}: generations are listed from the catalog in ${config.region}${config.manifests ? ` or from the manifests in ${config.manifests.region}` : ' (the config has no "manifests" key)'}`,
  );
}

/** The copy queue's URL when the config copies anywhere; the queue must exist (`init` creates it locally). */
async function queueUrlOf(config: Config, clients: AwsClients): Promise<string | undefined> {
  if (!config.policies.some((p) => p.copies.length > 0)) return undefined;
  return copyQueueUrl(clients.sqs(config.region), config.copyQueue.name);
}

/** A clock that starts at `at` and runs at real speed: how `--at` replays a schedule on a simulated clock. */
function clockFrom(at: string | undefined): Clock {
  if (!at) return systemClock;
  const offset = Date.parse(at) - Date.now();
  return { now: () => new Date(Date.now() + offset) };
}

/** Runs the snapkeeper CLI with `argv` (without `node` and the script) and returns its exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let status: number = EXIT.ok;
  const program = new Command('snapkeeper')
    .description('Tag-driven EBS snapshot and AMI backups: plan, run, list and restore generations.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(run with --help for usage)');

  /** Every command takes --config and --json (SPEC §7), and its action gets the loaded config. */
  const command = (name: string, summary: string) =>
    program
      .command(name)
      .description(summary)
      .option('-c, --config <file>', 'configuration file (JSON or YAML)', './snapkeeper.config.json')
      .option('--json', 'print one JSON document on stdout and nothing else there', false)
      .option('-q, --quiet', 'no progress lines on stderr', false);

  const act =
    <O extends CommonOptions>(
      work: (config: Config, options: O, clients: AwsClients) => Promise<[unknown, string]>,
    ) =>
    async (options: O) => {
      const config = await loadConfigFile(options.config);
      const clients = io.clients ?? new AwsClients();
      try {
        const [output, text] = await work(config, options, clients);
        io.stdout(`${options.json ? JSON.stringify(output, null, 2) : text}\n`);
      } catch (error) {
        if (!(error instanceof PartialFailure)) throw error;
        io.stdout(`${options.json ? JSON.stringify(error.output, null, 2) : error.text}\n`);
        status = EXIT.failed;
      }
    };
  const log = (options: CommonOptions) => consoleLog(io.stderr, options.quiet ? 'warn' : 'info');

  command('init', 'create the catalog table and manifest bucket named in the config where missing').action(
    act(async (config, _options, clients) => {
      const steps = await ensureSandbox(config, clients);
      return [{ steps }, formatInit(steps)];
    }),
  );

  command(
    'plan',
    'what the next run of each schedule would snapshot, copy and prune, and tag problems; changes nothing',
  )
    .option('-p, --policy <name>', 'only this policy')
    .option('--at <time>', 'plan as of this time (ISO-8601); default now', isoTime)
    .action(
      act<CommonOptions & { policy?: string; at?: string }>(async (config, options, clients) => {
        checkPolicy(config, options.policy);
        const result = await plan(planDeps({ config, clients }), { policy: options.policy, at: options.at });
        return [result, formatPlan(result)];
      }),
    );

  command('run', 'one scheduled run of a policy schedule, through the same code as the Lambda')
    .requiredOption('-p, --policy <name>', 'policy name')
    .requiredOption('-s, --schedule <name>', 'schedule name within the policy')
    .option('--at <time>', "the run's scheduledAt (ISO-8601); default now", isoTime)
    .action(
      act<CommonOptions & { policy: string; schedule: string; at?: string }>(
        async (config, options, clients) => {
          findSchedule(config, options.policy, options.schedule);
          const scheduledAt = options.at ?? new Date().toISOString();
          const report = await runSchedule(
            { policy: options.policy, schedule: options.schedule, scheduledAt },
            runDeps({
              config,
              clients,
              clock: clockFrom(options.at),
              log: log(options),
              copyQueueUrl: await queueUrlOf(config, clients),
            }),
          );
          const text = formatRun(report);
          if (report.results.some((r) => r.outcome === 'failed')) throw new PartialFailure(report, text);
          return [report, text];
        },
      ),
    );

  command(
    'reconcile',
    'advance pending generations, queue missing DR copies, apply retention in every Region, and prune',
  )
    .option('--at <time>', 'the simulated time of this pass (ISO-8601); default now', isoTime)
    .action(
      act<CommonOptions & { at?: string }>(async (config, options, clients) => {
        const report = await reconcile(
          reconcileDeps({
            config,
            clients,
            clock: clockFrom(options.at),
            log: log(options),
            copyQueueUrl: await queueUrlOf(config, clients),
          }),
        );
        return [report, formatReconcile(report)];
      }),
    );

  command(
    'copy',
    'work the DR copy queue as the copy-worker Lambda does: start copies the Regions have slots for, record finished ones',
  )
    .option('--at <time>', 'the simulated time of this pass (ISO-8601); default now', isoTime)
    .option(
      '--max-delay <seconds>',
      'cap how long a waiting copy is delayed in the queue; 0 retries it in this command at once (the sandbox)',
      nonNegativeInt,
      900,
    )
    .option('--rounds <n>', 'receive rounds at most (10 messages each)', positiveInt, 50)
    .option(
      '--retry <generation>',
      "queue a generation's failed copy again (with --region), then work the queue",
    )
    .option('--region <region>', 'the copy Region, with --retry')
    .action(
      act<CommonOptions & { at?: string; maxDelay: number; rounds: number; retry?: string; region?: string }>(
        async (config, options, clients) => {
          const url = await queueUrlOf(config, clients);
          if (!url) throw new InputError('no policy in the config has copies; there is nothing to copy');
          if (options.region && !options.retry)
            throw new InputError('--region goes with --retry <generation>');
          if (options.retry && !options.region)
            throw new InputError('--retry needs --region <the copy Region>');
          const deps = copyWorkerDeps(
            { config, clients, clock: clockFrom(options.at), log: log(options) },
            url,
          );
          if (options.retry && options.region) await retryCopy(deps, options.retry, options.region);
          const report = await pumpCopyQueue(clients.sqs(config.region), url, deps, {
            maxDelaySeconds: options.maxDelay,
            maxRounds: options.rounds,
          });
          const text = formatCopy(report);
          if (report.failed.length > 0) throw new PartialFailure(report, text);
          return [report, text];
        },
      ),
    );

  command('generations', 'list generations, newest first')
    .option('--volume <id>', 'generations holding a snapshot of this volume')
    .option('--instance <id>', 'generations of this instance')
    .option('-p, --policy <name>', 'generations of this policy')
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .option('--from-manifests', 'read the manifests in the manifest Region, not the catalog', false)
    .option(
      '--region <region>',
      'the primary Region reads the catalog; the manifest Region reads the manifests',
    )
    .action(
      act<
        CommonOptions & {
          volume?: string;
          instance?: string;
          policy?: string;
          limit: number;
          fromManifests: boolean;
          region?: string;
        }
      >(async (config, options, clients) => {
        const filters = [options.volume, options.instance].filter(Boolean).length;
        if (filters > 1) throw new InputError('give at most one of --volume and --instance');
        const catalog = readsManifests(config, options)
          ? new ManifestCatalog(requiredManifests(config, clients), log(options))
          : catalogFor(config, clients);
        const query = { limit: options.limit };
        let generations: Generation[];
        if (options.volume) generations = await catalog.byVolume(options.volume, query);
        else if (options.instance) generations = await catalog.byTarget(options.instance, query);
        else {
          const policies = options.policy ? [options.policy] : config.policies.map((p) => p.name);
          checkPolicy(config, options.policy);
          const lists = await Promise.all(policies.map((p) => catalog.byPolicy(p, query)));
          generations = lists
            .flat()
            .sort((a, b) => b.scheduledAt.localeCompare(a.scheduledAt))
            .slice(0, options.limit);
        }
        if (options.policy) generations = generations.filter((g) => g.policy === options.policy);
        return [generations, formatGenerations(generations)];
      }),
    );

  command('restore', 'restore-volume runbook: a new volume from a generation, waited until available')
    .option('--volume <id>', 'source volume: restore its newest completed generation at or before --at')
    .option('--generation <id>', 'restore this generation instead')
    .requiredOption('--az <zone>', 'Availability Zone for the new volume')
    .option('--at <time>', 'point in time (ISO-8601); default now', isoTime)
    .option('--region <region>', 'restore in this Region (a DR copy); default the primary Region')
    .addOption(
      new Option('--volume-type <type>', 'volume type').choices([
        'gp2',
        'gp3',
        'io1',
        'io2',
        'st1',
        'sc1',
        'standard',
      ]),
    )
    .option('--iops <n>', 'provisioned IOPS', positiveInt)
    .option('--throughput <n>', 'throughput in MiB/s (gp3)', positiveInt)
    .option('--kms-key-id <key>', 'encrypt the new volume with this KMS key')
    .option('--idempotency-token <token>', 'a retry with the same token returns the same volume')
    .option('--dry-run', 'resolve everything, create nothing', false)
    .option(
      '--from-manifests',
      'find the generation in the manifests (the catalog is unreachable); the audit entry goes to the log',
      false,
    )
    .action(
      act<
        CommonOptions & {
          volume?: string;
          generation?: string;
          az: string;
          at?: string;
          region?: string;
          volumeType?: string;
          iops?: number;
          throughput?: number;
          kmsKeyId?: string;
          idempotencyToken?: string;
          dryRun: boolean;
          fromManifests: boolean;
        }
      >(async (config, options, clients) => {
        if (!options.volume && !options.generation) {
          throw new InputError(
            'give --volume <id> (its newest generation at or before --at) or --generation <id>',
          );
        }
        const actor = `cli:${process.env.USER ?? 'unknown'}`;
        const result = await restoreVolume(
          {
            volumeId: options.volume,
            generationId: options.generation,
            at: options.at,
            availabilityZone: options.az,
            region: options.region,
            volumeType: options.volumeType,
            iops: options.iops,
            throughput: options.throughput,
            kmsKeyId: options.kmsKeyId,
            idempotencyToken: options.idempotencyToken,
            dryRun: options.dryRun,
          },
          restoreDeps({ config, clients, log: log(options) }, actor, {
            fromManifests: options.fromManifests,
          }),
        );
        return [result, formatRestore(result)];
      }),
    );

  command(
    'rebuild-catalog',
    'recreate catalog records from the manifests (run init first); records the catalog holds are kept',
  )
    .option('--dry-run', 'count what would be imported, write nothing', false)
    .action(
      act<CommonOptions & { dryRun: boolean }>(async (config, options, clients) => {
        const report = await rebuildCatalog(
          {
            manifests: requiredManifests(config, clients),
            catalog: catalogFor(config, clients),
            log: log(options),
          },
          { dryRun: options.dryRun },
        );
        return [report, formatRebuild(report)];
      }),
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return status;
  } catch (error) {
    return reportError(error, argv.includes('--json'), io);
  }
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
  const message = describeError(error);
  io.stderr(`snapkeeper: ${message}\n`);
  if (json) io.stdout(`${JSON.stringify({ error: { kind, message } })}\n`);
  return badInput ? EXIT.badInput : EXIT.failed;
}
