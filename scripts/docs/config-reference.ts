/**
 * The configuration reference (docs/configuration.md) rendered from the JSON Schema that the zod schema in
 * functions/core/config/schema.ts generates, so its keys, types, limits, defaults and descriptions cannot
 * drift from the code. Each object of the schema gets a section with one row per key.
 */

/** The parts of a JSON Schema node the reference shows. */
export interface SchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  examples?: unknown[];
  properties?: Record<string, SchemaNode>;
  required?: string[];
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
}

interface Section {
  path: string;
  node: SchemaNode;
}

/** Enums longer than this are summarised. */
const LONG_ENUM = 8;

const code = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
// A `<name>` in a description would be read as an HTML tag and vanish from the rendered page.
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('\n', ' ');
const isRecord = (node: SchemaNode) =>
  node.type === 'object' && typeof node.additionalProperties === 'object';
const hasKeys = (node: SchemaNode) => node.type === 'object' && node.properties !== undefined;

/** Bounds that say something: zod writes the safe-integer limits on every int. */
function range(low: number | undefined, high: number | undefined, unit = ''): string {
  const lo = low !== undefined && low > Number.MIN_SAFE_INTEGER ? low : undefined;
  const hi = high !== undefined && high < Number.MAX_SAFE_INTEGER ? high : undefined;
  if (lo !== undefined && hi !== undefined) return `, ${lo}–${hi}${unit}`;
  if (lo !== undefined) return `, ≥ ${lo}${unit}`;
  if (hi !== undefined) return `, ≤ ${hi}${unit}`;
  return '';
}

function typeOf(node: SchemaNode, path: string): string {
  // A long list (the AWS Regions) would bury the row; the JSON Schema has it whole.
  if (node.enum && node.enum.length > LONG_ENUM) {
    return `one of ${node.enum.length} known values (listed in the JSON Schema)`;
  }
  if (node.enum) return node.enum.map(code).join(' | ');
  if (isRecord(node)) return `map of string to ${typeOf(node.additionalProperties as SchemaNode, path)}`;
  if (hasKeys(node)) return `object (see \`${path}\`)`;
  if (node.type === 'array' && node.items) {
    const least = node.minItems ? `, at least ${node.minItems}` : '';
    return `array of ${typeOf(node.items, `${path}[]`)}${least}`;
  }
  if (node.type === 'string') return `string${range(node.minLength, node.maxLength, ' chars')}`;
  if (node.type === 'integer' || node.type === 'number')
    return `${node.type}${range(node.minimum, node.maximum)}`;
  return node.type ?? 'any';
}

/** Every object with named keys, parents before children, in the schema's own key order. */
function sections(node: SchemaNode, path: string): Section[] {
  const found: Section[] = hasKeys(node) ? [{ path, node }] : [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    found.push(...sections(child, path ? `${path}.${key}` : key));
  }
  if (node.type === 'array' && node.items) found.push(...sections(node.items, `${path}[]`));
  return found;
}

function row(key: string, node: SchemaNode, parent: SchemaNode, path: string): string {
  const required = parent.required?.includes(key) ? 'yes' : '';
  const fallback = node.default === undefined ? '' : code(node.default);
  const examples =
    node.examples && !hasKeys(node) && node.type !== 'array'
      ? ` ${node.examples.length > 1 ? 'Examples' : 'Example'}: ${node.examples.map(code).join(', ')}.`
      : '';
  const text = `${node.description ?? ''}${examples}`;
  return `| \`${key}\` | ${cell(typeOf(node, path))} | ${required} | ${cell(fallback)} | ${cell(text)} |`;
}

function render({ path, node }: Section): string {
  const rows = Object.entries(node.properties ?? {}).map(([key, child]) =>
    row(key, child, node, path ? `${path}.${key}` : key),
  );
  return [
    `### ${path ? `\`${path}\`` : 'The top level'}`,
    '',
    ...(node.description ? [cell(node.description), ''] : []),
    '| Key | Type | Required | Default | Description |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** The reference for `schema` (the config's JSON Schema): one section per object, one row per key. */
export function renderConfigReference(schema: SchemaNode): string {
  return sections(schema, '').map(render).join('\n\n');
}
