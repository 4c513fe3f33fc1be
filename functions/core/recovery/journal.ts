import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { RunbookFailedError, RunbookInProgressError } from '#core/model/errors.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import type { RunbookJournal, RunbookRecord } from './ports.ts';

/**
 * The request journal every runbook that changes things in steps keeps (replace-volume, restore-instance): one
 * record per request id under the catalog's audit prefix, held by one invocation at a time through a lease. A
 * second delivery of a request finds the record and returns what the first did (or its failure); a delivery
 * whose predecessor died takes the request over once the lease has run out and finishes it.
 */

/** The request field that makes a runbook request idempotent (the Lambda passes its request id, Automation its execution id). */
export const requestIdField = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_", ":" or "-"');

export interface JournalDeps {
  journal: RunbookJournal;
  clock: Clock;
  log: Log;
  /** How long one invocation holds a request before another may take it over; longer than the Lambda timeout. */
  leaseMs?: number;
}

const DEFAULT_LEASE_MS = 20 * 60 * 1000;

export function leaseFrom(deps: Pick<JournalDeps, 'clock' | 'leaseMs'>): string {
  return new Date(deps.clock.now().getTime() + (deps.leaseMs ?? DEFAULT_LEASE_MS)).toISOString();
}

/** A new request's record: in progress, held by a fresh owner, with the starting state every rollback returns to. */
export function newRecord(
  runbook: string,
  plan: Record<string, unknown>,
  requestId: string,
  startedAt: string,
  deps: Pick<JournalDeps, 'clock' | 'leaseMs'>,
): RunbookRecord {
  return {
    runbook,
    requestId,
    state: 'in-progress',
    owner: randomUUID(),
    leaseUntil: leaseFrom(deps),
    startedAt,
    updatedAt: startedAt,
    plan: { ...plan },
    progress: {},
  };
}

/**
 * What a delivery of a request id already recorded gets: its result (`repeated`), its failure, a refusal while
 * another invocation holds it, or, once that one's lease ran out, the work taken over by `resume`.
 */
export async function seenBefore<R>(
  record: RunbookRecord,
  deps: JournalDeps,
  resume: (taken: RunbookRecord) => Promise<R>,
): Promise<R> {
  const now = deps.clock.now().toISOString();
  deps.log.info('runbook request seen before', {
    runbook: record.runbook,
    requestId: record.requestId,
    state: record.state,
  });
  switch (record.state) {
    case 'completed':
      return { ...(record.result as unknown as R), repeated: true };
    case 'rolled-back':
    case 'rollback-failed':
      throw new RunbookFailedError(
        `request ${record.requestId} already ran and failed: ${record.failure}; nothing was done again (send a new request id to try again)`,
        String(record.progress.failedStep ?? 'unknown'),
        record.state === 'rolled-back',
      );
    case 'in-progress': {
      if (record.leaseUntil > now) {
        throw new RunbookInProgressError(
          `request ${record.requestId} is being carried out by another invocation until ${record.leaseUntil}; nothing was done: ask again with the same request id after that`,
        );
      }
      // The invocation that held it died: finish from the state it recorded before it changed anything.
      const taken = { ...record, owner: randomUUID(), leaseUntil: leaseFrom(deps), updatedAt: now };
      if (!(await deps.journal.save(taken, record))) {
        throw new RunbookInProgressError(
          `request ${record.requestId} was just taken over by another invocation; nothing was done`,
        );
      }
      return resume(taken);
    }
  }
}

/**
 * Saves a record's progress while this invocation still holds it; a record another invocation took over fails
 * with `RunbookInProgressError`, so two never both carry on.
 */
export function recordKeeper(first: RunbookRecord, deps: Pick<JournalDeps, 'journal' | 'clock'>) {
  let record = first;
  let held = { owner: first.owner, leaseUntil: first.leaseUntil };
  return {
    get record() {
      return record;
    },
    async save(fields: Partial<RunbookRecord>): Promise<void> {
      const next = { ...record, ...fields, updatedAt: deps.clock.now().toISOString() };
      if (!(await deps.journal.save(next, held))) {
        throw new RunbookInProgressError(`request ${record.requestId} was taken over by another invocation`);
      }
      record = next;
      held = { owner: next.owner, leaseUntil: next.leaseUntil };
    },
  };
}
