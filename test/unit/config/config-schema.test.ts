import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '#core/config/config.ts';

/** Just enough of JSON Schema for a structural check: no ajv here. */
interface Node {
  type?: string;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: boolean | Node;
  items?: Node;
  enum?: unknown[];
  pattern?: string;
  anyOf?: Array<{ required?: string[] }>;
}

/** Problems a JSON Schema validator would report for objects, keys, enums, patterns and required fields. */
function violations(schema: Node, value: unknown, path = '$'): string[] {
  if (schema.enum && !schema.enum.includes(value)) return [`${path}: not one of the enum`];
  if (schema.type === 'string' && typeof value !== 'string') return [`${path}: not a string`];
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
    return [`${path}: does not match ${schema.pattern}`];
  }
  if (schema.type === 'array') {
    if (!Array.isArray(value)) return [`${path}: not an array`];
    return value.flatMap((item, index) =>
      schema.items ? violations(schema.items, item, `${path}[${index}]`) : [],
    );
  }
  if (schema.type !== 'object') return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
  const record = value as Record<string, unknown>;
  const problems = (schema.required ?? [])
    .filter((key) => !(key in record))
    .map((key) => `${path}.${key}: required`);
  if (schema.anyOf && !schema.anyOf.some((option) => (option.required ?? []).every((key) => key in record))) {
    problems.push(`${path}: matches none of anyOf`);
  }
  for (const [key, item] of Object.entries(record)) {
    const property = schema.properties?.[key];
    if (property) problems.push(...violations(property, item, `${path}.${key}`));
    else if (schema.additionalProperties === false) problems.push(`${path}.${key}: additional property`);
    else if (typeof schema.additionalProperties === 'object') {
      problems.push(...violations(schema.additionalProperties, item, `${path}.${key}`));
    }
  }
  return problems;
}

const schema = configJsonSchema() as Node;

async function exampleConfig(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(new URL('../../../snapkeeper.config.json', import.meta.url), 'utf8'));
}

describe('the config JSON Schema', () => {
  it('accepts the example config', async () => {
    expect(violations(schema, await exampleConfig())).toEqual([]);
  });

  it('rejects an unknown top-level key', async () => {
    expect(violations(schema, { ...(await exampleConfig()), retention: 7 })).toEqual([
      '$.retention: additional property',
    ]);
  });

  it('rejects an unknown key inside a schedule', async () => {
    const config = await exampleConfig();
    const policies = config.policies as Array<{ schedules: Array<Record<string, unknown>> }>;
    Object.assign(policies[0]?.schedules[0] ?? {}, { retain: 3 });
    expect(violations(schema, config)).toEqual(['$.policies[0].schedules[0].retain: additional property']);
  });

  it('requires region, catalog and policies, and allows $schema', () => {
    expect(schema.required).toEqual(expect.arrayContaining(['region', 'catalog', 'policies']));
    expect(schema.properties?.$schema).toBeDefined();
    expect(schema.additionalProperties).toBe(false);
  });

  it('leaves defaulted fields optional, so a minimal policy validates', () => {
    const policy = schema.properties?.policies?.items;
    expect(policy?.required).toEqual(['name', 'targets', 'schedules']);
  });

  it('says a keep rule needs count or days', () => {
    const keep = schema.properties?.policies?.items?.properties?.schedules?.items?.properties?.keep as Node;
    expect(violations(keep, {})).toEqual(['$: matches none of anyOf']);
  });

  it('matches the generated file in schema/', async () => {
    const file = JSON.parse(
      await readFile(new URL('../../../schema/snapkeeper.config.schema.json', import.meta.url), 'utf8'),
    );
    expect(file).toEqual(configJsonSchema());
  });
});
