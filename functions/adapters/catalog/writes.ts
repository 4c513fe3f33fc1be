import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { AwsOperationError, WriteConflictError } from '#core/model/errors.ts';
import type { Generation, GenerationField } from '#core/model/generation.ts';
import { catalogKeys, catalogLayout } from './layout.ts';

/**
 * Optimistic writes of a generation record, for `DynamoCatalog`. Runs, reconcile and copy workers write the same
 * record at the same time, each a few fields of it. Every write sets `revision` one above the revision it was
 * built on and is conditioned on finding that revision (`attribute_not_exists` for a record never written
 * since its claim), so a writer that read an older record loses instead of putting stale fields or stale
 * index keys over a newer write; it then reads the record again and builds the same change on it. The copy
 * slots, in the same table, share `isConditionFailure`.
 */

/** Attempts before a write gives up: each lost attempt means another writer won, so losing eight in a row is
 * contention to report, not to wait out. */
export const WRITE_ATTEMPTS = 8;

/** What one attempt makes of the record as it stands: the whole record to write and the fields that changed,
 * or a result without writing (the change is already there, or no longer allowed). */
export type WriteStep<T> = { write: Generation; fields: readonly GenerationField[] } | { result: T };

export interface OptimisticWrite<T> {
  /** For the error when it gives up. */
  operation: string;
  /** The record the first attempt builds on, as the caller read it; without it the record is read first. */
  base?: Generation;
  /** A strongly consistent read of the record. */
  read(): Promise<Generation | undefined>;
  /** What to resolve with (or throw) when the record does not exist. */
  missing(): T;
  /** The change, built on `current`; `fresh` is false only while `current` is the caller's `base`. */
  step(current: Generation, fresh: boolean): WriteStep<T>;
  /** Writes `next` (with its revision set) over `current`; false when the write's condition failed. */
  send(current: Generation, next: Generation, fields: readonly GenerationField[]): Promise<boolean>;
  /** What to resolve with once `next` is written. */
  written(next: Generation): T;
}

/** One write as `DynamoCatalog` takes it: the record's id (or the caller's `base` of it), and optionally a
 * condition besides the revision and a `send` that puts the UpdateItem in a transaction. */
export type GenerationWrite<T> = Omit<OptimisticWrite<T>, 'read' | 'send'> & {
  id?: string;
  condition?: Condition;
  send?: (update: GenerationUpdate) => Promise<unknown>;
};

/** One conditional UpdateItem of a generation record. */
export type GenerationUpdate = UpdateCommandInput & { UpdateExpression: string };

/**
 * The UpdateItem that writes `next` over `current`: the fields a step changed and both index keys, derived from
 * the whole record as written, conditioned on the record existing, on the revision the step built on, and on
 * `condition`.
 */
export function generationUpdate(
  table: string,
  current: Generation,
  next: Generation,
  fields: readonly GenerationField[],
  condition?: Condition,
): GenerationUpdate {
  const attributes: Record<string, unknown> = {};
  for (const field of fields) attributes[field] = next[field];
  Object.assign(attributes, catalogKeys.indexKeys(next));
  const exists = 'attribute_exists(#pk)';
  return {
    TableName: table,
    Key: catalogKeys.generation(next.id),
    ...revisionUpdate(
      attributes,
      { expected: current.revision, next: next.revision ?? 0 },
      {
        expression: condition ? `${exists} AND ${condition.expression}` : exists,
        names: { '#pk': catalogLayout.partitionKey, ...condition?.names },
        values: condition?.values,
      },
    ),
  };
}

/** Whether `send` landed: false when its condition failed (another writer won), any other error thrown. */
export async function landed(send: () => Promise<unknown>): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Writes the named fields of `generation` onto the record (set when defined, removed when not): first onto
 * `generation` itself, as its writer read it, then, when another writer got there first, onto the record as
 * it is now. A deleted generation is history and is never written again.
 */
export function fieldsWrite(
  operation: string,
  generation: Generation,
  fields: readonly GenerationField[],
): GenerationWrite<void> {
  return {
    operation,
    base: generation,
    missing: () => {
      throw new AwsOperationError(`catalog: ${operation}`, `no generation ${generation.id}`);
    },
    step: (current, fresh) => {
      // The caller's own record may carry the deletedAt it is writing; only a record read back is deleted.
      if (fresh && current.deletedAt)
        throw new AwsOperationError(`catalog: ${operation}`, `generation ${generation.id} is deleted`);
      const write: Record<string, unknown> = { ...current };
      for (const field of fields) write[field] = generation[field];
      return { write: write as unknown as Generation, fields };
    },
    condition: { expression: 'attribute_not_exists(#deletedAt)', names: { '#deletedAt': 'deletedAt' } },
    // The caller's record now stands at the written revision, so its next write builds on it without a
    // conflict (reconcile records an outcome, then applies retention to the same object).
    written: (next) => {
      generation.revision = next.revision;
    },
  };
}

/** Runs the read, build, conditional write loop of one change (see the file comment). */
export async function writeOptimistically<T>(write: OptimisticWrite<T>): Promise<T> {
  let current = write.base ?? (await write.read());
  let fresh = write.base === undefined;
  for (let attempt = 1; ; attempt++) {
    if (!current) return write.missing();
    const step = write.step(current, fresh);
    if ('result' in step) return step.result;
    const fields = [...new Set(step.fields)].filter((f) => f !== 'revision');
    const next: Generation = { ...step.write, revision: (current.revision ?? 0) + 1 };
    if (await write.send(current, next, fields)) return write.written(next);
    if (attempt >= WRITE_ATTEMPTS) {
      throw new WriteConflictError(write.operation, current.id, WRITE_ATTEMPTS);
    }
    // Tiny and jittered: the winner's write is done already, so the loser only needs to not collide again.
    await sleep(Math.random() * Math.min(5 * 2 ** attempt, 200));
    current = await write.read();
    fresh = true;
  }
}

/** A condition with its own placeholders; `#a<n>`, `:a<n>`, `#revision`, `:revision` and `:nextRevision` are taken. */
export interface Condition {
  expression: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

/**
 * The expressions of one optimistic UpdateItem: `SET` for every defined attribute and `REMOVE` for every
 * undefined one (a record never keeps a stale field), `revision` set to `next`, and the condition that the
 * record still has revision `expected` (absent when undefined), together with `condition`. Every attribute
 * goes through a placeholder, so no field name can collide with a DynamoDB reserved word.
 */
export function revisionUpdate(
  attributes: Record<string, unknown>,
  revision: { expected: number | undefined; next: number },
  condition?: Condition,
) {
  const sets: string[] = [];
  const removes: string[] = [];
  const names: Record<string, string> = { '#revision': 'revision', ...condition?.names };
  const values: Record<string, unknown> = { ':nextRevision': revision.next, ...condition?.values };
  Object.entries(attributes).forEach(([attribute, value], i) => {
    names[`#a${i}`] = attribute;
    if (value === undefined) {
      removes.push(`#a${i}`);
    } else {
      sets.push(`#a${i} = :a${i}`);
      values[`:a${i}`] = value;
    }
  });
  sets.push('#revision = :nextRevision');
  let revisionCondition = 'attribute_not_exists(#revision)';
  if (revision.expected !== undefined) {
    revisionCondition = '#revision = :revision';
    values[':revision'] = revision.expected;
  }
  return {
    UpdateExpression: [`SET ${sets.join(', ')}`, removes.length ? `REMOVE ${removes.join(', ')}` : '']
      .filter(Boolean)
      .join(' '),
    ConditionExpression: condition ? `${revisionCondition} AND (${condition.expression})` : revisionCondition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** A write lost to a condition, or a transaction cancelled by one or by a concurrent transaction on its items. */
export function isConditionFailure(error: unknown): boolean {
  if (error instanceof TransactionCanceledException) {
    return (error.CancellationReasons ?? []).some(
      (reason) => reason.Code === 'ConditionalCheckFailed' || reason.Code === 'TransactionConflict',
    );
  }
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
