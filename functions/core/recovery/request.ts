import type { z } from 'zod';
import type { AuditTrail } from '#core/model/catalog.ts';
import { InputError } from '#core/model/errors.ts';
import type { Clock } from '#core/model/ports.ts';

/**
 * The request half of every runbook (restore-volume, replace-volume, and those that follow): one zod schema
 * per runbook, parsed once at the boundary, and one error type for what is wrong with a request. A problem
 * names the request field it is about as the request spells it (`volumeId`); each boundary renders it in its
 * own words: the Lambda as the field, the CLI as its flag (`--volume`). A message refers to other fields as
 * `{field}` (`give {volumeId} or {generationId}`), so it reads right at both.
 */

/** One thing wrong with a request: the field it is about (none for the request as a whole) and the fix. */
export interface FieldProblem {
  field?: string;
  message: string;
}

/** How a boundary spells a request field: the Lambda as is, the CLI as a flag. */
export type FieldSpelling = (field: string) => string;

const asField: FieldSpelling = (field) => field;

/** A bad runbook request. The message spells fields as the request does; `rendered` spells them as a boundary. */
export class RequestError extends InputError {
  override readonly name = 'RequestError';
  constructor(
    /** `restore-volume`, `replace-volume`, ... */
    readonly runbook: string,
    readonly problems: readonly FieldProblem[],
  ) {
    super(renderProblems(runbook, problems, asField));
  }

  /** The message with every field spelled by `spell`, e.g. as the CLI's flags. */
  rendered(spell: FieldSpelling): string {
    return renderProblems(this.runbook, this.problems, spell);
  }
}

function renderProblems(runbook: string, problems: readonly FieldProblem[], spell: FieldSpelling): string {
  const lines = problems.map((p) => {
    const text = p.message.replace(/\{(\w+)\}/g, (_, field: string) => spell(field));
    return p.field ? `${spell(p.field)}: ${text}` : text;
  });
  return `bad ${runbook} request: ${lines.join('; ')}`;
}

/** Fails with a `RequestError` of `runbook` when there is any problem; does nothing otherwise. */
export function refuse(runbook: string, problems: readonly FieldProblem[]): void {
  if (problems.length > 0) throw new RequestError(runbook, problems);
}

/** A zod failure as field problems: the first path element is the field. */
export function problemsOf(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => {
    const [field] = issue.path;
    if (issue.code === 'unrecognized_keys') {
      return { message: `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}; check its spelling` };
    }
    const message =
      issue.code === 'invalid_type' && /received undefined/.test(issue.message)
        ? 'is required'
        : issue.message;
    return typeof field === 'string' ? { field, message } : { message };
  });
}

/** Parses a runbook request from outside (an event, the CLI's flags) with its schema, once. */
export function parseRequest<S extends z.ZodType>(runbook: string, schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new RequestError(runbook, problemsOf(parsed.error));
  return parsed.data;
}

/** The audit entry every runbook writes once it is done (or refused mid-way), dry runs included. */
export function auditRunbook(
  deps: { catalog: AuditTrail; clock: Clock; actor: string },
  runbook: string,
  request: { dryRun: boolean },
  result: Record<string, unknown>,
): Promise<void> {
  return deps.catalog.audit({
    at: deps.clock.now().toISOString(),
    action: runbook,
    actor: deps.actor,
    dryRun: request.dryRun,
    request: { ...request },
    result: { ...result },
  });
}
