import { z } from 'zod';

/**
 * A runbook as an SSM Automation document (`infra/runbooks.ts`) and the same runbook's Lambda agree on one
 * thing: how the document's parameters become the Lambda's request. Both are derived here from the runbook's
 * request schema, so a field added to the schema is a parameter of the document, with the schema's pattern as
 * its `allowedPattern`, and nothing is written twice.
 *
 * Automation has no optional parameters: each gets a default, `""` for a field left out. Its payload is
 * `{"automation": {"<field>": "<value>", ...}}` with every value a string (a Boolean stays a Boolean); the
 * Lambda turns it back into a request (blank = absent, numbers parsed) and validates it like any other.
 */

/** One document parameter and the request field it fills. */
export interface AutomationParameter {
  /** The parameter's name in the document: the field in PascalCase (`volumeId` → `VolumeId`). */
  name: string;
  field: string;
  type: 'String' | 'Boolean';
  description: string;
  allowedPattern?: string;
  default?: string | boolean;
}

interface JsonField {
  type?: string;
  pattern?: string;
  enum?: string[];
  format?: string;
}

/** Whatever `allowedPattern` has no better pattern: no quotes, braces or spaces can reach the payload. */
const PLAIN_TEXT = '^[A-Za-z0-9:/_.@+=,-]{0,2048}$';

/**
 * The document's parameters for a request schema. `descriptions` says what each field is for (the console
 * shows it); `token` names the field the execution id fills (a retry of the step is the same request), which
 * is then no parameter.
 */
export function automationParameters(
  schema: z.ZodType,
  descriptions: Record<string, string>,
  token?: string,
): AutomationParameter[] {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as {
    properties?: Record<string, JsonField>;
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {})
    .filter(([field]) => field !== token)
    .map(([field, spec]) => {
      const name = field.charAt(0).toUpperCase() + field.slice(1);
      const description = descriptions[field] ?? field;
      if (spec.type === 'boolean') return { name, field, type: 'Boolean', description, default: false };
      const pattern = patternOf(spec);
      return {
        name,
        field,
        type: 'String',
        description,
        allowedPattern: required.has(field) ? `^(?:${pattern})$` : `^(?:${pattern})?$`,
        ...(required.has(field) ? {} : { default: '' }),
      };
    });
}

function patternOf(spec: JsonField): string {
  if (spec.enum) return spec.enum.map((v) => v.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')).join('|');
  if (spec.type === 'integer') return '[0-9]{1,9}';
  if (spec.format === 'date-time')
    return '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?(?:Z|[+-]\\d{2}:\\d{2})';
  if (spec.pattern) return spec.pattern.replace(/^\^/, '').replace(/\$$/, '');
  return PLAIN_TEXT.slice(1, -1);
}

/** The `aws:invokeLambdaFunction` payload: every parameter, and the execution id as the `token` field. */
export function automationPayload(parameters: readonly AutomationParameter[], token?: string): string {
  const values = parameters.map((p) =>
    p.type === 'Boolean' ? `"${p.field}":{{ ${p.name} }}` : `"${p.field}":"{{ ${p.name} }}"`,
  );
  if (token) values.push(`"${token}":"{{ automation:EXECUTION_ID }}"`);
  return `{"automation":{${values.join(',')}}}`;
}

/**
 * The request inside an Automation payload, or the event unchanged when it is not one. A blank value is a
 * field left out; a field the schema takes as a number is parsed (a non-number is left for the schema to name).
 */
export function fromAutomation(schema: z.ZodType, event: unknown): unknown {
  if (!isRecord(event) || Object.keys(event).length !== 1 || !isRecord(event.automation)) return event;
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as {
    properties?: Record<string, JsonField>;
  };
  const request: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(event.automation)) {
    if (value === '') continue;
    const numeric = json.properties?.[field]?.type === 'integer' && typeof value === 'string';
    request[field] = numeric && /^[0-9]+$/.test(value) ? Number(value) : value;
  }
  return request;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
