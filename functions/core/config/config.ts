import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '#core/model/errors.ts';
import { didYouMean } from '#core/model/spelling.ts';
import { crossFieldProblems, ON_DEMAND_SCHEDULE } from './checks.ts';
import {
  type Config,
  ConfigFields,
  type CopyRule,
  type KeepRule,
  type Policy,
  type ScheduleRule,
} from './schema.ts';

export { ON_DEMAND_SCHEDULE, TAG_VARIABLES, type TagVariable } from './checks.ts';
export type {
  Config,
  ConfigInput,
  ConsistencyRule,
  CopyRule,
  KeepRule,
  Policy,
  ScheduleRule,
} from './schema.ts';

/** The whole config: its fields (schema.ts) and the rules that span them (checks.ts). */
export const ConfigSchema = ConfigFields.superRefine((config, ctx) => {
  for (const { path, message } of crossFieldProblems(config)) ctx.addIssue({ code: 'custom', path, message });
}).describe('snapkeeper configuration: tag-driven EBS snapshot and AMI backups.');

/** Validates a parsed config object and applies defaults; throws ConfigError naming every problem. */
export function parseConfig(raw: unknown, source?: string): Config {
  const result = ConfigSchema.safeParse(raw, { error: issueMessage });
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map(toConfigIssue), source);
}

/** Parses config text in JSON or YAML, then validates it; a syntax error is a ConfigError with its line. */
export function parseConfigText(text: string, format: 'json' | 'yaml', source?: string): Config {
  return parseConfig(format === 'json' ? parseJson(text, source) : parseYaml(text, source), source);
}

/** How the CLI says to name another file; a reader elsewhere (the CDK construct) passes its own words. */
const CLI_POINTER = '--config <file>';

/** Reads and validates a `.json`, `.yaml` or `.yml` config file. */
export async function loadConfigFile(path: string, pointer = CLI_POINTER): Promise<Config> {
  const format = configFileFormat(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw unreadableConfigFile(path, error, pointer);
  }
  return parseConfigText(text, format, path);
}

/**
 * {@link loadConfigFile} for callers that cannot wait, such as a CDK app, whose constructs are built
 * synchronously: the same formats, checks and errors. `pointer` says how to name another file (`--config <file>`).
 */
export function loadConfigFileSync(path: string, pointer = CLI_POINTER): Config {
  const format = configFileFormat(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw unreadableConfigFile(path, error, pointer);
  }
  return parseConfigText(text, format, path);
}

function configFileFormat(path: string): 'json' | 'yaml' {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') return 'json';
  if (extension === '.yaml' || extension === '.yml') return 'yaml';
  throw new ConfigError(
    [{ path: '', message: `unsupported file type "${extension}"; use a .json, .yaml or .yml config file` }],
    path,
  );
}

function unreadableConfigFile(path: string, error: unknown, pointer: string): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const where = isAbsolute(path) ? '' : ` (looked for ${resolve(path)})`;
  const message =
    code === 'ENOENT'
      ? `config file not found${where}; create it (see snapkeeper.config.json in the repository) or point to yours with ${pointer}`
      : `cannot read the config file (${code ?? String(error)}); check the path, or pass another with ${pointer}`;
  return new ConfigError([{ path: '', message }], path, { cause: error });
}

/** The policy a request names; throws ConfigError listing the valid choices. */
export function findPolicy(config: Config, policy: string): { policy: Policy; index: number } {
  const index = config.policies.findIndex((candidate) => candidate.name === policy);
  const found = config.policies[index];
  if (!found) {
    const choices = config.policies.map((candidate) => candidate.name).join(', ');
    throw new ConfigError([
      { path: 'policies', message: `no policy named "${policy}"; valid policies: ${choices}` },
    ]);
  }
  return { policy: found, index };
}

/** The policy and schedule a run names; throws ConfigError listing the valid choices. */
export function findSchedule(
  config: Config,
  policy: string,
  schedule: string,
): { policy: Policy; schedule: ScheduleRule } {
  const { policy: found, index } = findPolicy(config, policy);
  const rule = found.schedules.find((candidate) => candidate.name === schedule);
  if (!rule) {
    const choices = found.schedules.map((candidate) => candidate.name).join(', ');
    const onDemand =
      schedule === ON_DEMAND_SCHEDULE
        ? '; on-demand backups are not scheduled runs: use `snapkeeper backup --policy <name>`'
        : '';
    throw new ConfigError([
      {
        path: `policies[${index}].schedules`,
        message: `policy "${policy}" has no schedule named "${schedule}"; valid schedules: ${choices}${onDemand}`,
      },
    ]);
  }
  return { policy: found, schedule: rule };
}

/**
 * The rule on-demand generations of a policy live under, as if it were a schedule: kept by days only, in a lineage
 * of their own. It is never scheduled (no EventBridge schedule is made for it); its expression only names it.
 */
export function onDemandRule(policy: Policy): ScheduleRule {
  return {
    name: ON_DEMAND_SCHEDULE,
    expression: ON_DEMAND_SCHEDULE,
    keep: { days: policy.onDemand.keep.days },
    ami: false,
  };
}

/**
 * The policy and schedule rule a generation (or a run) names; each is undefined when the config no longer
 * has it, which callers treat as "keep what it made" rather than an error (compare findSchedule). On-demand
 * generations get their policy's on-demand rule.
 */
export function scheduleOf(
  config: Config,
  names: { policy: string; schedule: string },
): { policy?: Policy; schedule?: ScheduleRule } {
  const policy = config.policies.find((p) => p.name === names.policy);
  if (policy && names.schedule === ON_DEMAND_SCHEDULE) return { policy, schedule: onDemandRule(policy) };
  return { policy, schedule: policy?.schedules.find((s) => s.name === names.schedule) };
}

/** Every Region a policy of the config copies to, each once. */
export function copyRegions(config: Config): string[] {
  return [...new Set(config.policies.flatMap((p) => p.copies.map((c) => c.region)))];
}

/** How many snapshot copies may be in flight at once into this Region. */
export function copyLimit(config: Config, region: string): number {
  return config.copyQueue.maxInFlightByRegion[region] ?? config.copyQueue.maxInFlight;
}

/** The copies a generation of this schedule gets, each with its retention resolved (default: the schedule's). */
export function copiesForSchedule(
  policy: Policy,
  schedule: ScheduleRule,
): Array<CopyRule & { keep: KeepRule }> {
  return policy.copies
    .filter((copy) => copy.schedules === undefined || copy.schedules.includes(schedule.name))
    .map((copy) => ({ ...copy, keep: copy.keep ?? schedule.keep }));
}

/** JSON Schema of the config file as written (defaults make fields optional), for editors. */
export function configJsonSchema(): object {
  return {
    ...z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'snapkeeper configuration',
  };
}

/** Formats a zod path as `policies[0].tags["Cost Center"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const key = String(segment);
      if (/^[A-Za-z_$][\w$-]*$/.test(key)) return index === 0 ? key : `.${key}`;
      return `[${JSON.stringify(key)}]`;
    })
    .join('');
}

function toConfigIssue(issue: z.core.$ZodIssue): ConfigIssue {
  // One unknown key is reported at the key itself, so the path points where the fix goes.
  const path =
    issue.code === 'unrecognized_keys' && issue.keys.length === 1
      ? [...issue.path, issue.keys[0] ?? '']
      : issue.path;
  if (path.length === 0 && issue.code === 'invalid_type') {
    return {
      path: '',
      message: `${issue.message}; the config must be an object with region, catalog and policies`,
    };
  }
  return { path: formatPath(path), message: issue.message };
}

/** Replaces zod's default messages with ones that name the fix. Schema-specific messages take precedence. */
function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = Object.keys((issue.inst as z.ZodObject | undefined)?._zod.def.shape ?? {});
      const keys = issue.keys.map((key) => `"${key}"${didYouMean(key, allowed)}`).join(', ');
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}; remove it or use one of the allowed keys: ${allowed.join(', ')}`;
    }
    case 'invalid_type': {
      const hint = exampleOf(issue.inst);
      if (issue.input === undefined) return `missing; add it${hint ? `, e.g. ${hint}` : ''}`;
      const expected = EXPECTED[issue.expected] ?? `a ${issue.expected}`;
      return `expected ${expected}, got ${describeValue(issue.input)}${hint ? `; e.g. ${hint}` : ''}`;
    }
    case 'invalid_value': {
      const allowed = issue.values.map((value) => JSON.stringify(value));
      const got = typeof issue.input === 'string' ? didYouMean(issue.input, issue.values.map(String)) : '';
      return `${describeValue(issue.input)} is not allowed${got}; use one of ${allowed.join(', ')}`;
    }
    case 'too_small':
      return `must be at least ${issue.minimum}, got ${String(issue.input)}`;
    case 'too_big':
      return `must be at most ${issue.maximum}, got ${String(issue.input)}`;
    case 'invalid_key':
      return issue.issues.map((inner) => `key ${JSON.stringify(issue.input)}: ${inner.message}`).join('; ');
    default:
      return undefined;
  }
}

const EXPECTED: Record<string, string> = {
  object: 'an object',
  array: 'a list',
  int: 'a whole number',
  boolean: 'true or false',
};

function exampleOf(schema: unknown): string | undefined {
  const meta = schema ? z.globalRegistry.get(schema as z.ZodType) : undefined;
  const example = meta?.examples;
  if (Array.isArray(example) && example.length > 0) return JSON.stringify(example[0]);
  const def = (schema as z.ZodType | undefined)?._zod.def;
  if (def?.type === 'enum')
    return Object.values((def as z.core.$ZodEnumDef).entries)
      .map((v) => JSON.stringify(v))
      .join(' or ');
  return undefined;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

function parseJson(text: string, source?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const { line, column } = lineAndColumn(text, position === undefined ? text.length : Number(position));
    const reason = (error as Error).message.replace(/ in JSON at position \d+.*$/, '');
    const message = `JSON syntax error at line ${line}, column ${column}: ${reason}; fix the syntax (a trailing comma or a missing quote is the usual cause)`;
    throw new ConfigError([{ path: '', message }], source, { cause: error });
  }
}

function parseYaml(text: string, source?: string): unknown {
  const document = parseDocument(text, { prettyErrors: false });
  const [first] = document.errors;
  if (first) {
    const { line, column } = lineAndColumn(text, first.pos[0]);
    const reason = first.message.split('\n')[0]?.replace('; please use YAML.parseAllDocuments()', '');
    const message = `YAML syntax error at line ${line}, column ${column}: ${reason}; fix the syntax (check the indentation and the quoting)`;
    throw new ConfigError([{ path: '', message }], source, { cause: first });
  }
  return document.toJS();
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}
