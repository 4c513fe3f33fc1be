import { createServer } from 'node:net';
import { InvalidArgumentError } from 'commander';
import { AwsClients } from '#adapters/clients.ts';
import { loadConfigFile } from '#core/config/config.ts';
import { InputError } from '#core/model/errors.ts';
import type { Cli, CommonOptions } from '../command.ts';
import { configPath, talkingTo } from '../conventions.ts';
import { emulatorEnv, startMoto } from '../sandbox/moto.ts';
import { REALISM_PATH } from '../sandbox/realism.ts';
import { type FleetMember, sampleFleet } from '../sandbox/sample-fleet.ts';
import { ensureSandbox } from '../sandbox-setup.ts';

interface SandboxOptions extends CommonOptions {
  port: number;
  fleet: boolean;
}

/** The port moto's own server takes by default, so the printed endpoint is the one its docs show. */
const DEFAULT_PORT = 5000;

/**
 * `snapkeeper sandbox`: the realistic emulator on loopback until Ctrl-C or SIGTERM, with the lines that point a
 * shell at it on stdout, then `ready`. With `--fleet`, the config's resources (as `init` makes them) and a small
 * tagged fleet come first. Everything it started stops with it.
 */
export function sandboxCommand(cli: Cli): void {
  cli
    .command('sandbox')
    .option('--port <n>', 'port on loopback (0 takes a free one)', port, DEFAULT_PORT)
    .option('--fleet', "also create the config's resources and a small tagged sample fleet", false)
    .action(async (options: SandboxOptions) => {
      if (options.profile !== undefined) {
        throw new InputError(
          '--profile does not apply: the sandbox signs with its test credentials; drop it',
        );
      }
      const log = cli.log(options);
      const loaded = options.fleet ? await loadConfigFile(configPath(options.config)) : undefined;
      // The sandbox's environment names us-east-1; --region puts the fleet elsewhere.
      const config = loaded && talkingTo(loaded, options.region, {}, (line) => log.warn(line.trim()));
      await portIsFree(options.port);
      const moto = await startMoto({ port: options.port, log: (line) => log.debug('emulator', { line }) });
      const stopped = untilStopped();
      try {
        const env = emulatorEnv(moto.endpoint);
        let fleet: FleetMember[] = [];
        if (config) {
          // This process's clients reach the sandbox through the standard environment, as a user's do.
          Object.assign(process.env, env);
          const clients = new AwsClients({ maxAttempts: 3 });
          for (const step of await ensureSandbox(config, clients)) log.info('sandbox resource', { ...step });
          fleet = await sampleFleet(clients.ec2(config.region), config.region);
        }
        cli.print(options, { env, fleet, control: `${moto.endpoint}${REALISM_PATH}`, ready: true }, [
          ...Object.entries(env).map(([key, value]) => `export ${key}=${value}`),
          ...fleet.map((m) => `# ${m.id.padEnd(22)} ${m.name.padEnd(15)} ${m.tags}`),
          'ready',
        ]);
        await stopped;
      } finally {
        await moto.stop();
      }
    });
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('expected a port number from 0 to 65535 (0 takes a free one)');
  }
  return n;
}

/** Refuses a port another process holds, with the fix, before moto tries it. */
function portIsFree(n: number): Promise<void> {
  if (n === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', () =>
      reject(
        new InputError(`port ${n} is in use on loopback; pass another with --port (0 takes a free one)`),
      ),
    );
    probe.listen(n, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/** Resolves at the first SIGINT or SIGTERM, keeping the process alive until then (moto's handles are unref'd). */
function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const alive = setInterval(() => {}, 60_000);
    const stop = () => {
      clearInterval(alive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
