import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '#core/config/config.ts';
import type { PermissionCall, PermissionRecord } from '../../harness/permission-recorder.ts';
import type { AuthRequest } from './auth-request.ts';
import { evaluate } from './policy.ts';
import { authRequests } from './requests.ts';
import { type TemplateJson, templateRoles } from './roles.ts';

/** The calls of one integration run, grouped by the configuration their ports were wired with. */
export interface RecordedRun {
  configs: Map<string, Config>;
  calls: PermissionCall[];
}

/** Reads the record file; a missing or empty one fails, naming how to make it. */
export function readRecords(file: string): RecordedRun {
  const hint =
    'the permission contract test checks the calls the integration tier records: run `npx vitest run --project integration` ' +
    '(the whole tier) before the infra tier, as `npm test` does';
  if (!existsSync(file)) throw new Error(`${file} does not exist; ${hint}`);
  const records = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as PermissionRecord);
  const calls = records.filter((r): r is PermissionCall => r.kind === 'call');
  if (calls.length === 0) throw new Error(`${file} holds no recorded calls; ${hint}`);
  const configs = new Map<string, Config>();
  for (const record of records) if (record.kind === 'config') configs.set(record.hash, record.config);
  return { configs, calls };
}

/** A call its Lambda's role would refuse in AWS, or one the contract test could not check. */
export interface Violation {
  function: string;
  action: string;
  resource: string;
  /** The condition keys of the refused request, so the missing condition can be seen. */
  context?: Record<string, string[]>;
  /** Why it could not be checked (an unmodelled action or condition key), when that is the problem. */
  problem?: string;
}

export interface ContractResult {
  violations: Violation[];
  /** Requests on resources that did not exist, which fail in AWS whatever the role says. */
  moot: number;
  checked: number;
}

/**
 * Checks each call against the role of the Lambda that made it, in the template synthesized from the call's
 * configuration (`templateFor`). Each distinct (function, action, resource, context) is reported once.
 */
export function checkContract(
  run: RecordedRun,
  templateFor: (config: Config) => TemplateJson,
): ContractResult {
  const violations = new Map<string, Violation>();
  let moot = 0;
  let checked = 0;
  // One report per kind of refusal, not per snapshot id: ids (`snap-0a1b…`) are left out of the key.
  const add = (violation: Violation) =>
    violations.set(
      `${violation.function} ${violation.action} ${violation.resource.replace(/-[0-9a-f]{8,}/g, '-…')} ${violation.problem ?? ''}`,
      violation,
    );
  for (const [hash, config] of run.configs) {
    const roles = templateRoles(templateFor(config), config.region);
    for (const call of run.calls.filter((c) => c.config === hash)) {
      const statements = roles.byHandler.get(call.function);
      if (!statements) {
        add({
          function: call.function,
          action: call.action,
          resource: '-',
          problem: 'the stack has no such Lambda',
        });
        continue;
      }
      let requests: AuthRequest[];
      try {
        requests = authRequests(call);
      } catch (error) {
        add({
          function: call.function,
          action: call.action,
          resource: '-',
          problem: (error as Error).message,
        });
        continue;
      }
      for (const request of requests) {
        if (request.moot) {
          moot += 1;
          continue;
        }
        checked += 1;
        try {
          if (!evaluate(statements, request).allowed) {
            add({
              function: call.function,
              action: request.action,
              resource: request.resource,
              context: request.context,
            });
          }
        } catch (error) {
          add({
            function: call.function,
            action: request.action,
            resource: request.resource,
            problem: (error as Error).message,
          });
        }
      }
    }
  }
  return { violations: [...violations.values()], moot, checked };
}

/** Lambdas of a template with no recorded call at all, under any configuration. */
export function unrecordedFunctions(run: RecordedRun, template: TemplateJson, region: string): string[] {
  const { byHandler, unknownFunctions } = templateRoles(template, region);
  const recorded = new Set(run.calls.map((c) => c.function));
  return [...[...byHandler.keys()].filter((handler) => !recorded.has(handler)), ...unknownFunctions];
}

/** `(function, action, resource)` with the request's condition keys, or the problem: one line a violation. */
export function describeViolation(v: Violation): string {
  const context = Object.entries(v.context ?? {})
    .map(([key, values]) => `${key}=${values.join('|')}`)
    .join(', ');
  return `(${v.function}, ${v.action}, ${v.resource})${context ? ` [${context}]` : ''}${v.problem ? `: ${v.problem}` : ''}`;
}
