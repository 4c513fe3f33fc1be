// The snapkeeper demo: a small tagged fleet on the local emulator, a day of schedules replayed on a simulated
// clock, the generations it made, a volume restored to a chosen point in time, and the report. Every step is the
// real CLI (the same code the Lambdas run), printed as you would type it.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AwsClients } from '#adapters/clients.ts';
import { tagsOf } from '#adapters/ec2/snapshots.ts';
import { colorsOn } from '#cli/conventions.ts';
import { runCli } from '#cli/main.ts';
import { emulatorEnv, startMoto } from '#cli/sandbox/moto.ts';
import { realismState } from '#cli/sandbox/realism.ts';
import type { Generation } from '#core/model/generation.ts';
import type { RestoreVolumeResult } from '#core/recovery/restore.ts';
import { anInstance, aVolume } from '../test/support/fleet.ts';

const colors = colorsOn(process.stdout);
const bold = (s: string) => (colors ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (colors ? `\x1b[2m${s}\x1b[0m` : s);
const step = (n: number, title: string) => console.log(`\n${bold(`${n}. ${title}`)}`);

/** Runs one CLI command, echoing it; returns its stdout. Progress lines go to stderr as usual. */
async function snapkeeper(
  args: string[],
  options: { quiet?: boolean; show?: boolean; echo?: boolean } = {},
): Promise<string> {
  const argv = options.quiet ? [...args, '--quiet'] : args;
  if (options.echo !== false) console.log(dim(`$ snapkeeper ${args.join(' ')}`));
  let out = '';
  const status = await runCli(argv, {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      if (!options.quiet) process.stderr.write(dim(text));
    },
    clients,
  });
  if (options.show !== false) process.stdout.write(out);
  if (status !== 0) throw new Error(`snapkeeper ${args.join(' ')} exited ${status}`);
  return out;
}

// The realistic emulator (`snapkeeper sandbox` runs the same): moto with what AWS always does on its side, and a
// simulated SSM agent on every instance that takes 150 ms to run the freeze document. No client is patched. The
// demo replays November on a simulated clock, so every freeze's NotAfter is already past by the agents' clock.
const emulator = await startMoto({
  log: (line) => console.error(dim(line)),
  realism: { agents: { default: { runMs: 150, checkNotAfter: false } } },
});
Object.assign(process.env, emulatorEnv(emulator.endpoint));
const clients = new AwsClients({ maxAttempts: 3 });
const ec2 = new EC2Client({ region: 'us-east-1' });

try {
  console.log(bold('snapkeeper demo'), dim(`on the local AWS emulator at ${emulator.endpoint}`));
  console.log(
    dim(
      'config: ./snapkeeper.config.json (policies "daily" for instances, "volumes" for standalone volumes)',
    ),
  );

  step(1, 'Create the catalog table, manifest bucket and copy queue (the CDK stack does this in AWS)');
  await snapkeeper(['init']);

  step(2, 'A small fleet, opted in by tags');
  const web = await anInstance(ec2, {
    tags: { Name: 'web-1', 'snapkeeper:policy': 'daily' },
    dataVolumes: 1,
    volumeTags: [{ Name: 'web-1-data', App: 'shop' }],
  });
  const db1 = await anInstance(ec2, {
    tags: { Name: 'db-1', 'snapkeeper:policy': 'daily', 'snapkeeper:group': 'orders' },
    dataVolumes: 2,
  });
  const db2 = await anInstance(ec2, {
    tags: { Name: 'db-2', 'snapkeeper:policy': 'daily', 'snapkeeper:group': 'orders' },
    dataVolumes: 2,
  });
  const shared = await aVolume(ec2, {
    tags: { Name: 'shared-scratch', 'snapkeeper:policy': 'volumes', Team: 'data' },
  });
  const mistagged = await aVolume(ec2, { tags: { Name: 'reports', 'snapkeeper:policy': 'dialy' } });
  const fleet: [string, string, string][] = [
    [
      web.instanceId,
      'web-1',
      `snapkeeper:policy=daily · boot ${web.bootVolumeId} + data ${web.dataVolumeIds[0]}`,
    ],
    [db1.instanceId, 'db-1', 'snapkeeper:policy=daily, snapkeeper:group=orders · boot + 2 data volumes'],
    [db2.instanceId, 'db-2', 'snapkeeper:policy=daily, snapkeeper:group=orders · boot + 2 data volumes'],
    [shared, 'shared-scratch', 'snapkeeper:policy=volumes (a standalone volume)'],
    [mistagged, 'reports', 'snapkeeper:policy=dialy (a typo: no such policy, so never backed up)'],
  ];
  for (const [id, name, tags] of fleet) console.log(`  ${id.padEnd(22)} ${name.padEnd(15)} ${dim(tags)}`);

  step(3, 'Replay six hours of the "hourly" schedule and one nightly volume run, on a simulated clock');
  const day = '2026-11-20';
  await snapkeeper(['run', '--policy', 'volumes', '--schedule', 'daily', '--at', `${day}T02:30:00Z`], {
    quiet: true,
  });
  for (let hour = 0; hour < 6; hour++) {
    const at = `${day}T${String(hour).padStart(2, '0')}:00:00Z`;
    await snapkeeper(['run', '--policy', 'daily', '--schedule', 'hourly', '--at', at], { quiet: true });
    // In AWS snapshots stay pending for a while; reconcile advances them to completed.
    await snapkeeper(['reconcile', '--at', `${day}T${String(hour).padStart(2, '0')}:10:00Z`], {
      quiet: true,
      show: false,
    });
  }
  console.log(dim('  (reconcile ran after each hour and moved every generation from pending to completed)'));

  step(4, 'Delivered twice? The same run makes no second generation');
  await snapkeeper(['run', '--policy', 'daily', '--schedule', 'hourly', '--at', `${day}T05:00:00Z`], {
    quiet: true,
  });

  step(5, 'A weekly AMI run (Sunday 04:00): each instance imaged with NoReboot inside its freeze');
  await snapkeeper(['run', '--policy', 'daily', '--schedule', 'weekly', '--at', '2026-11-22T04:00:00Z'], {
    quiet: true,
  });

  step(6, 'Retention: nine nights of the "volumes" policy (keep 7); reconcile prunes what the rule lets go');
  console.log(dim('  (nights 13 to 20 run quietly, each followed by a reconcile pass; night 21 shown)'));
  for (let night = 13; night <= 21; night++) {
    const at = `2026-11-${night}T02:30:00Z`;
    await snapkeeper(['run', '--policy', 'volumes', '--schedule', 'daily', '--at', at], {
      quiet: true,
      show: false,
    });
    // The copy worker (a Lambda fed by the SQS copy queue in AWS) copies each night to us-west-2.
    await snapkeeper(['copy', '--at', `2026-11-${night}T02:35:00Z`, '--max-delay', '0'], {
      quiet: true,
      show: night === 21,
    });
    await snapkeeper(['reconcile', '--at', `2026-11-${night}T02:45:00Z`], {
      quiet: true,
      show: night === 21,
    });
  }
  const kept = JSON.parse(
    await snapkeeper(['generations', '--volume', shared, '--json', '--limit', '50'], { show: false }),
  ) as Generation[];
  console.log(
    `  ${shared}: ${kept.filter((g) => !g.deletedAt).length} generations kept, ${kept.filter((g) => g.deletedAt).length} pruned (snapshots deleted, records kept as history)`,
  );

  step(7, 'Disaster recovery: each night copied to us-west-2, kept there under its own rule (keep 3)');
  console.log(
    dim('  (at most copyQueue.maxInFlight copies in flight per Region; the rest wait in the queue)'),
  );
  await snapkeeper(['generations', '--volume', shared, '--limit', '4']);
  const inDr = kept.filter((g) => g.copies.some((c) => c.region === 'us-west-2' && !c.deletedAt)).length;
  console.log(
    `  ${shared}: ${inDr} copies kept in us-west-2 while ${kept.filter((g) => !g.deletedAt).length} generations stay in us-east-1`,
  );
  await snapkeeper(['restore', '--volume', shared, '--az', 'us-west-2a', '--to-region', 'us-west-2'], {
    quiet: true,
  });

  step(8, 'The plan: what the next run would do, what is held back and why, and what to fix in the tags');
  await snapkeeper(['plan', '--policy', 'volumes', '--at', '2026-11-21T12:00:00Z']);

  step(9, 'The catalog: every generation of web-1, newest first');
  await snapkeeper(['generations', '--instance', web.instanceId]);

  step(10, "Restore web-1's data volume as it was at 03:30 into another Availability Zone");
  const dataVolume = web.dataVolumeIds[0] ?? '';
  await snapkeeper(
    ['restore', '--volume', dataVolume, '--az', 'us-east-1b', '--at', `${day}T03:30:00Z`, '--dry-run'],
    { quiet: true },
  );
  const restored = JSON.parse(
    await snapkeeper(
      ['restore', '--volume', dataVolume, '--az', 'us-east-1b', '--at', `${day}T03:30:00Z`, '--json'],
      { show: false },
    ),
  ) as RestoreVolumeResult;
  const generation = JSON.parse(
    await snapkeeper(['generations', '--volume', dataVolume, '--json', '--limit', '10'], { show: false }),
  ) as Generation[];
  const chosen = generation.find((g) => g.id === restored.generationId);
  const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [restored.volumeId ?? ''] })))
    .Volumes?.[0];
  console.log(
    `  restored ${bold(restored.volumeId ?? '')} in ${restored.availabilityZone}: ${volume?.State}, ${volume?.Size} GiB ${volume?.VolumeType}`,
  );
  console.log(
    `  from generation ${restored.generationId}, taken ${chosen?.takenAt} (the newest at or before 03:30)`,
  );
  console.log(
    `  tags carried: ${Object.entries(tagsOf(volume?.Tags))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );

  step(11, 'What happened');
  const all = JSON.parse(
    await snapkeeper(['generations', '--json', '--limit', '1000'], { show: false }),
  ) as Generation[];
  const snapshots = all.reduce((n, g) => n + g.snapshots.length, 0);
  console.log(
    `  ${all.length} generations (${all.filter((g) => g.state === 'completed').length} completed), ${snapshots} snapshots, all tagged at creation`,
  );
  const fsGeneration = all.find((g) => g.target.id === web.instanceId && g.consistency === 'filesystem');
  const groupGeneration = all.find((g) => g.target.kind === 'group');
  const amiGeneration = all.find((g) => g.amiId !== undefined);
  console.log(
    `  filesystem-consistent: ${fsGeneration?.id} of web-1, frozen for ${fsGeneration?.freezeWindowMs} ms (freeze sent to thaw sent)`,
  );
  console.log(
    `  group ${groupGeneration?.target.id} (${groupGeneration?.target.members?.join(', ')}): ${groupGeneration?.id}, ${groupGeneration?.consistency}, ${groupGeneration?.snapshots.length} snapshots inside one ${groupGeneration?.freezeWindowMs} ms window`,
  );
  console.log(
    `  AMI: ${amiGeneration?.amiId} in ${amiGeneration?.id} (${amiGeneration?.target.id}), ${amiGeneration?.consistency}, boot snapshot ${amiGeneration?.snapshots.find((s) => s.amiId)?.snapshotId}`,
  );
  const agents = (await realismState(emulator.endpoint)).agents;
  const count = (event: string) => agents.events.filter((e) => e.event === event).length;
  console.log(
    `  every freeze was thawed: ${count('freeze-sent')} freezes, ${count('thaw-sent')} thaws, ${agents.frozen.length} instances still frozen`,
  );
  console.log(`  1 volume restored to a point in time; the mistagged volume ${mistagged} was not backed up`);

  step(12, 'The report: RPO per target, missed runs, DR lag, what nothing protects, as of the morning after');
  console.log(
    dim(
      '  (the demo replayed six hours of "hourly" and no "daily" run, so the report flags those schedules as missed)',
    ),
  );
  const page = join('.snapkeeper', 'report.html');
  mkdirSync('.snapkeeper', { recursive: true });
  await snapkeeper(['report', '--at', '2026-11-21T03:00:00Z', '--html', page], { quiet: true });
  console.log(`  open ${bold(resolve(page))} in a browser for the timelines (one file, nothing fetched)`);
  console.log(dim('  not yet in this build: drill'));
} finally {
  await emulator.stop();
}
