import type { AuthRequest } from './auth-request.ts';

/** An IAM policy statement with its intrinsic functions resolved (see `roles.ts`). */
export interface ResolvedStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * Condition keys the contract test cannot know from a recorded call, each with why it is safe to assume it
 * holds. Empty on purpose: every key the roles use today is known from the call. A key added here is
 * treated as satisfied, so add one only with a reason a reviewer accepts.
 */
export const NOT_CHECKABLE: Record<string, string> = {};

/** A condition on a key the recorded request says nothing about: teach the request model, or list it above. */
export class UncheckableConditionError extends Error {
  override readonly name = 'UncheckableConditionError';
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM's wildcards: `*` any run of characters, `?` one character. */
export function globMatches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value);
}

const isKnown = (request: AuthRequest, key: string) =>
  request.known.some((k) => (k.endsWith('/') ? key.startsWith(k) : k === key));

type Matcher = (policyValue: string, requestValue: string) => boolean;

const MATCHERS: Record<string, { match: Matcher; negated: boolean }> = {
  StringEquals: { match: (p, r) => p === r, negated: false },
  StringNotEquals: { match: (p, r) => p === r, negated: true },
  StringEqualsIgnoreCase: { match: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
  StringLike: { match: (p, r) => globMatches(p, r), negated: false },
  StringNotLike: { match: (p, r) => globMatches(p, r), negated: true },
  ArnEquals: { match: (p, r) => p === r, negated: false },
  ArnLike: { match: (p, r) => globMatches(p, r), negated: false },
  Bool: { match: (p, r) => p.toLowerCase() === r.toLowerCase(), negated: false },
};

/**
 * One condition operator on one key, as IAM evaluates it: a key missing from the request fails a positive
 * operator and passes a negated one (or any `…IfExists`); `ForAnyValue` needs one request value to match,
 * `ForAllValues` every one, and holds when the request has none (IAM's documented behaviour).
 */
function conditionHolds(operator: string, key: string, expected: string[], request: AuthRequest): boolean {
  const values = request.context[key];
  const present = values !== undefined && values.length > 0;
  if (operator === 'Null') return expected.every((e) => (e === 'true') === !present);
  const [, set, base = '', ifExists] =
    /^(?:(ForAnyValue|ForAllValues):)?(\w+?)(IfExists)?$/.exec(operator) ?? [];
  const matcher = MATCHERS[base];
  if (!matcher) throw new UncheckableConditionError(`condition operator ${operator} is not modelled`);
  if (!present) return set === 'ForAllValues' || matcher.negated || ifExists !== undefined;
  const matchesAny = (value: string) => expected.some((e) => matcher.match(e, value));
  if (set === 'ForAllValues') return values.every((v) => (matcher.negated ? !matchesAny(v) : matchesAny(v)));
  if (matcher.negated) return !values.some(matchesAny);
  return values.some(matchesAny);
}

function conditionsHold(statement: ResolvedStatement, request: AuthRequest): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!isKnown(request, key)) {
        if (NOT_CHECKABLE[key]) continue;
        throw new UncheckableConditionError(
          `${request.action} on ${request.resource}: the statement ${JSON.stringify(statement)} conditions on ${key}, ` +
            'which the recorded call does not tell; model it in test/infra/iam/ or list it in NOT_CHECKABLE with a reason',
        );
      }
      if (!conditionHolds(operator, key, list(expected), request)) return false;
    }
  }
  return true;
}

function applies(statement: ResolvedStatement, request: AuthRequest): boolean {
  if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
    throw new UncheckableConditionError('NotAction and NotResource are not modelled');
  }
  const actionMatches = list(statement.Action).some((a) => globMatches(a, request.action, true));
  const resourceMatches = list(statement.Resource).some((r) => globMatches(r, request.resource));
  return actionMatches && resourceMatches && conditionsHold(statement, request);
}

/**
 * Whether identity policies allow a request: an explicit Deny wins, then any Allow; otherwise the implicit
 * deny. Returns the deciding statement.
 */
export function evaluate(
  statements: readonly ResolvedStatement[],
  request: AuthRequest,
): { allowed: boolean; by?: ResolvedStatement } {
  const deny = statements.find((s) => s.Effect === 'Deny' && applies(s, request));
  if (deny) return { allowed: false, by: deny };
  const allow = statements.find((s) => s.Effect === 'Allow' && applies(s, request));
  return allow ? { allowed: true, by: allow } : { allowed: false };
}
