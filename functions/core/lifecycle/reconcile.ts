import { adoptedGeneration, findAdoptable, plannedFor, rejectionNotes } from '#core/backup/adoption.ts';
import { CLAIM_LEASE_MS } from '#core/backup/claim.ts';
import type { Account, ImageService, Inventory, SnapshotService } from '#core/backup/ports.ts';
import { type Config, scheduleOf } from '#core/config/config.ts';
import type { CopyQueue, CopySlots } from '#core/copies/ports.ts';
import { queueCopies, unqueuedCopies } from '#core/copies/queue.ts';
import { SLOT_STALE_MS } from '#core/copies/start.ts';
import { sweepSlots } from '#core/copies/sweep.ts';
import type { Catalog } from '#core/model/catalog.ts';
import { type Generation, type SnapshotRecord, stateFromSnapshots } from '#core/model/generation.ts';
import type { MarkKey } from '#core/model/mark.ts';
import type { Clock, Log } from '#core/model/ports.ts';
import { anOrphanReport, type OrphanReport, sweepOrphans } from './orphans.ts';
import type { Pruner } from './ports.ts';
import { type PruneReport, prune } from './prune.ts';
import { replicasOf } from './replica.ts';
import { applyRetention, type CopyExpiry, unplaced } from './retention.ts';
import { type PolicyRpo, policyRpos } from './rpo.ts';

export interface ReconcileDeps {
  config: Config;
  catalog: Catalog;
  snapshots: SnapshotService;
  /** The targets' volumes and instances as they are now: what a generation may adopt, and their tags. */
  inventory: Inventory;
  /** The account, which what reconcile adopts must belong to. */
  account: Account;
  pruner: Pruner;
  clock: Clock;
  log: Log;
  /** What proves a resource is snapkeeper's before prune deletes it. */
  markKey: MarkKey;
  /** Where completed generations' DR copies are queued; needed when the config copies anywhere. */
  copyQueue?: CopyQueue;
  /** The copy slots, to free those whose worker died. */
  slots?: CopySlots;
  /** EC2 images, to tell an adopted AMI's own snapshots from the data snapshots taken with it. */
  images?: ImageService;
}

export interface ReconcileReport extends PruneReport {
  examined: number;
  completed: string[];
  failed: { generationId: string; failure: string }[];
  stillPending: string[];
  /** Pending for longer than `reconcile.stuckAfterMinutes`: someone should look. */
  stuck: { generationId: string; pendingMinutes: number }[];
  /** Generations that retention placed in their lineage in this pass, with the expiries it set. */
  expiries: { generationId: string; expiresAt: string }[];
  /** Generations whose DR copies this pass queued (a run that stopped before queueing them). */
  copiesQueued: string[];
  /** DR copies that retention placed in their Region's lineage in this pass. */
  copyExpiries: CopyExpiry[];
  /** Copy slots freed because the worker that took them died. */
  slotsFreed: { region: string; key: string }[];
  /** Snapshots tagged with an open generation's id but missing from its record, and what was done with each. */
  orphans: OrphanReport;
  /** Each policy's recovery point after the pass, for the RPO alarms. */
  rpo: PolicyRpo[];
}

/**
 * One reconcile pass, the scheduled housekeeping of the catalog: advance pending generations from the real
 * snapshot states (in AWS a snapshot can stay pending for hours), flag the stuck ones, sweep the snapshots their
 * creates made but nobody recorded (`./orphans.ts`), place finished ones in their lineage under the keep rules,
 * and prune what has expired, behind the interlocks.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const open = await deps.catalog.openGenerations();
  const report: ReconcileReport = {
    examined: open.length,
    completed: [],
    failed: [],
    stillPending: [],
    stuck: [],
    expiries: [],
    copiesQueued: [],
    copyExpiries: [],
    slotsFreed: [],
    orphans: anOrphanReport(),
    rpo: [],
    pruned: [],
    held: [],
    notes: [],
  };
  // Swept before retention places anything: a generation leaves the open-work index, and reconcile's sight, then.
  const advanced = await sweepOrphans(await advancePending(open, deps, report), deps, report.orphans);
  // Finished generations of one lineage are placed together: one read of the lineage per pass, not per member.
  const lineages = new Map<string, Generation[]>();
  const home = deps.config.region;
  for (const generation of advanced) {
    if (generation.state === 'pending') continue;
    const [primary, ...copies] = replicasOf(generation, home);
    if (primary && unplaced(primary) && !(await queued(generation, deps, report))) continue;
    if (!(primary && unplaced(primary)) && !copies.some(unplaced)) continue;
    const key = JSON.stringify([generation.target.id, generation.policy, generation.schedule]);
    lineages.set(key, [...(lineages.get(key) ?? []), generation]);
  }
  for (const finished of lineages.values()) {
    try {
      const placed = await applyRetention(finished, deps, deps.clock.now().toISOString());
      for (const { region, ...expiry } of placed.expiries) {
        if (region) report.copyExpiries.push({ ...expiry, region });
        else report.expiries.push(expiry);
      }
      report.held.push(...placed.held);
    } catch (error) {
      deps.log.error('retention not applied', {
        generationIds: finished.map((g) => g.id),
        error,
      });
    }
  }
  // Prunes that began and were interrupted, of the primary or of a copy: finished first, whatever their expiry.
  const resumable = advanced.filter((g) => replicasOf(g, home).some((r) => r.pruneStartedAt && !r.deletedAt));
  const pruned = await prune(deps, resumable);
  report.pruned.push(...pruned.pruned);
  report.held.push(...pruned.held);
  report.notes.push(...pruned.notes);
  if (deps.slots) report.slotsFreed = await sweepSlots({ ...deps, slots: deps.slots }, SLOT_STALE_MS);
  // Measured last, so generations this pass completed count.
  report.rpo = await policyRpos(deps);
  return report;
}

/**
 * A completed generation's DR copies must be queued before retention places it: placing it takes it out of the
 * open-work index, and with it out of reconcile's sight. So one whose copies could not be queued waits a pass.
 */
async function queued(
  generation: Generation,
  deps: ReconcileDeps,
  report: ReconcileReport,
): Promise<boolean> {
  if (generation.state !== 'completed') return true;
  if (unqueuedCopies(deps.config, generation).length === 0) return true;
  if (!(await queueCopies(deps, generation))) return false;
  report.copiesQueued.push(generation.id);
  return true;
}

async function advancePending(
  open: Generation[],
  deps: ReconcileDeps,
  report: ReconcileReport,
): Promise<Generation[]> {
  const now = deps.clock.now();
  const ids = open.flatMap((g) => g.snapshots.filter((s) => s.state === 'pending').map((s) => s.snapshotId));
  const states = ids.length > 0 ? await deps.snapshots.snapshotStates(ids) : new Map();
  const result: Generation[] = [];
  for (const generation of open) {
    if (generation.state !== 'pending') {
      result.push(generation);
      continue;
    }
    const pendingMinutes = Math.floor((now.getTime() - Date.parse(generation.claimedAt)) / 60_000);
    let next: Generation;
    if (generation.snapshots.length === 0) {
      // Claimed, nothing recorded: a run still at work, an AMI whose snapshots EC2 had not listed yet, or a run
      // that died. Whatever it created carries the generation id from creation, so it is found by tag and
      // adopted, never left behind untracked.
      const leaseOver = pendingMinutes * 60_000 >= CLAIM_LEASE_MS;
      const adoptable =
        generation.amiId || leaseOver ? await adoptLeftovers(generation, deps) : { rejected: [] };
      const notes = [...(generation.notes ?? []), ...rejectionNotes(adoptable.rejected)];
      if (adoptable.take) {
        const note = generation.amiId
          ? undefined
          : 'adopted by reconcile: the run that claimed it stopped before recording it, so no freeze is known to have covered it';
        next = adoptedGeneration(
          generation,
          { ...adoptable, take: adoptable.take },
          deps.config.region,
          note,
        );
      } else if (!leaseOver || generation.amiId) {
        if (adoptable.rejected.length > 0) await deps.catalog.update({ ...generation, notes }, ['notes']);
        report.stillPending.push(generation.id);
        flagStuck(generation, pendingMinutes, deps, report);
        result.push(generation);
        continue;
      } else {
        const failure = 'the run that claimed this generation stopped before creating snapshots';
        next = { ...generation, state: 'failed', consistency: 'failed', failure };
        if (notes.length > 0) next.notes = notes;
      }
    } else {
      const snapshots = generation.snapshots.map((s): SnapshotRecord => {
        if (s.state !== 'pending') return s;
        // A snapshot missing from EC2 was deleted outside snapkeeper: record it as lost, never crash on it.
        return { ...s, state: states.get(s.snapshotId) ?? 'error' };
      });
      next = { ...generation, snapshots, state: stateFromSnapshots(snapshots) };
      if (next.state === 'failed') {
        const lost = snapshots.filter((s) => s.state === 'error').map((s) => s.snapshotId);
        next = {
          ...next,
          consistency: 'failed',
          failure: `snapshots in error or missing: ${lost.join(', ')}`,
        };
      }
    }
    try {
      if (
        next.state !== 'pending' ||
        next.snapshots.some((s, i) => s.state !== generation.snapshots[i]?.state)
      ) {
        await deps.catalog.recordOutcome(next);
      }
    } catch (error) {
      deps.log.error('generation not advanced', { generationId: generation.id, error });
      report.stillPending.push(generation.id);
      continue;
    }
    if (next.state === 'completed') {
      report.completed.push(next.id);
      deps.log.info('generation completed', { generationId: next.id });
    } else if (next.state === 'failed') {
      report.failed.push({ generationId: next.id, failure: next.failure ?? '' });
      deps.log.warn('generation failed', { generationId: next.id, failure: next.failure });
    } else {
      report.stillPending.push(next.id);
      flagStuck(next, pendingMinutes, deps, report);
    }
    result.push(next);
  }
  return result;
}

/**
 * What a claim that never recorded its snapshots left behind, through the one adoption path: an AMI generation
 * whose image's snapshots EC2 had not listed yet, or the work of a run that died. What the run recorded about the
 * generation's consistency stands.
 */
function adoptLeftovers(generation: Generation, deps: ReconcileDeps) {
  const rule = scheduleOf(deps.config, generation).schedule;
  const consistency = generation.consistency === 'failed' ? 'crash' : generation.consistency;
  const ami = generation.amiId !== undefined || Boolean(rule?.ami);
  return plannedFor(generation, deps.inventory).then((planned) =>
    findAdoptable(generation, planned, { ami, consistency }, deps),
  );
}

function flagStuck(
  generation: Generation,
  pendingMinutes: number,
  deps: ReconcileDeps,
  report: ReconcileReport,
) {
  if (pendingMinutes < deps.config.reconcile.stuckAfterMinutes) return;
  report.stuck.push({ generationId: generation.id, pendingMinutes });
  deps.log.warn('generation stuck', { generationId: generation.id, pendingMinutes });
}
