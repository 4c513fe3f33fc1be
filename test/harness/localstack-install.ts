import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { kv, type Log, repoRoot, run, stateDir, withLock } from '#cli/sandbox/moto-python.ts';
import { aptInstall } from './apt.ts';

/** The last Apache-2.0 release of LocalStack's core; upstream is archived. */
export const LOCALSTACK_SPEC = 'localstack-core[runtime]==4.14.0';

const files = join(repoRoot, 'test', 'harness', 'localstack');
/** Upstream v4.14.0's requirements-runtime.txt: unpinned, moto-ext and cbor2 float to versions that break start-up. */
const constraints = join(files, 'constraints-4.14.0.txt');
const agentSource = join(files, 'DdbLocalLoader.java');
const home = join(stateDir, 'localstack');
const venvDir = join(home, 'venv');
const venvPython = join(venvDir, 'bin', 'python');
const stampFile = join(venvDir, '.snapkeeper-stamp');
const JDK_PACKAGE = 'openjdk-17-jdk-headless';

/** What a LocalStack start needs, all on this machine: nothing is downloaded at run time. */
export interface LocalStackParts {
  /** The venv's Python, with LocalStack installed. */
  python: string;
  /** A JDK 17+ home: LocalStack runs DynamoDB Local with it (as its `java/21`). */
  jdkHome: string;
  /** The do-nothing agent LocalStack starts DynamoDB Local with (DdbLocalLoader.java). */
  agentJar: string;
  /** DynamoDB Local (DynamoDBLocal.jar and DynamoDBLocal_lib/), from the npm package amplify-dynamodb-simulator. */
  dynamoDbLocal: string;
}

/**
 * Installs what is missing (the venv on first use, about 90 s cold; the JDK through apt-get; the agent jar with
 * javac) and returns where it all is. A second run finds everything in `.snapkeeper/localstack/` and takes well
 * under a second.
 */
export async function localStackParts(log: Log): Promise<LocalStackParts> {
  const dynamoDbLocal = join(repoRoot, 'node_modules', 'amplify-dynamodb-simulator', 'emulator');
  if (!existsSync(join(dynamoDbLocal, 'DynamoDBLocal.jar'))) {
    throw new Error(
      `DynamoDB Local is missing from ${dynamoDbLocal}: run \`npm ci\` (devDependency amplify-dynamodb-simulator)`,
    );
  }
  const jdkHome = await jdk(log);
  await withLock(join(home, 'install.lock'), log, async () => {
    if (!(await venvReady())) await installVenv(log);
  });
  return { python: venvPython, jdkHome, agentJar: await agentJar(jdkHome), dynamoDbLocal };
}

/** The stamp names the spec and the constraints' hash, so a change to either reinstalls. */
async function wantedStamp(): Promise<string> {
  const hash = createHash('sha256')
    .update(await readFile(constraints))
    .digest('hex')
    .slice(0, 12);
  return `${LOCALSTACK_SPEC} constraints=${hash}`;
}

async function venvReady(): Promise<boolean> {
  if (!existsSync(venvPython)) return false;
  const stamp = await readFile(stampFile, 'utf8').catch(() => '');
  return stamp.trim() === (await wantedStamp());
}

async function installVenv(log: Log): Promise<void> {
  const python = python313();
  const started = Date.now();
  await rm(venvDir, { recursive: true, force: true });
  log(
    kv('installing LocalStack into a virtual environment (first run only)', {
      spec: LOCALSTACK_SPEC,
      python,
    }),
  );
  await run(python, ['-m', 'venv', venvDir]);
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--retries', '2'];
  await run(venvPython, [...pip, '-c', constraints, LOCALSTACK_SPEC]);
  await writeFile(stampFile, `${await wantedStamp()}\n`);
  log(
    kv('LocalStack installed', { spec: LOCALSTACK_SPEC, seconds: Math.round((Date.now() - started) / 1000) }),
  );
}

/**
 * LocalStack 4.14.0 needs Python 3.12 syntax and was measured on 3.13: pyenv's 3.13 (the machine image has
 * 3.13.0), else a `python3.13` on PATH.
 */
function python313(): string {
  const pyenvRoot = process.env.PYENV_ROOT ?? join(homedir(), '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  const installed = existsSync(versions) ? readdirSync(versions).filter((v) => /^3\.13\.\d+$/.test(v)) : [];
  const candidates = [
    ...installed
      .sort()
      .reverse()
      .map((v) => join(versions, v, 'bin', 'python')),
    ...onPath('python3.13'),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `the LocalStack tier needs Python 3.13 and found none (looked in ${versions} and for python3.13 on PATH): install it, e.g. \`pyenv install 3.13.0\``,
    );
  }
  return found;
}

function onPath(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .map((dir) => join(dir, name));
}

/** Debian's JDK 17 (DynamoDB Local 2 needs 17 or later), installed through apt-get when missing. */
async function jdk(log: Log): Promise<string> {
  const find = () => {
    const jvm = '/usr/lib/jvm';
    const homes = existsSync(jvm) ? readdirSync(jvm).filter((d) => /^java-17-openjdk-/.test(d)) : [];
    return homes
      .map((d) => join(jvm, d))
      .find((d) => existsSync(join(d, 'bin', 'javac')) && existsSync(join(d, 'bin', 'jar')));
  };
  const found = find();
  if (found) return found;
  log(kv('installing the JDK DynamoDB Local runs on', { package: JDK_PACKAGE }));
  aptInstall(
    JDK_PACKAGE,
    'the LocalStack tier runs DynamoDB Local on a JDK 17 and found none in /usr/lib/jvm',
  );
  const installed = find();
  if (!installed)
    throw new Error(`apt-get installed ${JDK_PACKAGE} but no JDK 17 with javac and jar is in /usr/lib/jvm`);
  return installed;
}

/** Compiled once per source version into `.snapkeeper/localstack/`. */
async function agentJar(jdkHome: string): Promise<string> {
  const source = await readFile(agentSource);
  const jar = join(
    home,
    `ddb-local-loader-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.jar`,
  );
  if (existsSync(jar)) return jar;
  const build = join(home, `agent-build-${process.pid}`);
  await rm(build, { recursive: true, force: true });
  await mkdir(build, { recursive: true });
  try {
    await run(join(jdkHome, 'bin', 'javac'), ['--release', '17', '-d', build, agentSource]);
    await writeFile(join(build, 'manifest.txt'), 'Premain-Class: DdbLocalLoader\n');
    const built = join(build, 'agent.jar');
    await run(join(jdkHome, 'bin', 'jar'), [
      'cfm',
      built,
      join(build, 'manifest.txt'),
      '-C',
      build,
      'DdbLocalLoader.class',
    ]);
    await rename(built, jar); // atomic: a parallel run sees the whole jar or none
  } finally {
    await rm(build, { recursive: true, force: true });
  }
  return jar;
}
