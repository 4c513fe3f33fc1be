import { describeError } from './errors.ts';
import { type Generation, type SnapshotRecord, stateFromSnapshots } from './generation.ts';
import type { Catalog, Clock, Log, SnapshotService } from './ports.ts';

export interface ReconcileDeps {
  catalog: Catalog;
  snapshots: SnapshotService;
  clock: Clock;
  log: Log;
}

export interface ReconcileReport {
  examined: number;
  completed: string[];
  failed: { generationId: string; failure: string }[];
  stillPending: string[];
}

/**
 * Advances pending generations from the real snapshot states. In AWS a snapshot can stay `pending` for hours;
 * the run records what the create call returned and this moves it on, as often as it is scheduled.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const open = await deps.catalog.openGenerations();
  const ids = open.flatMap((g) => g.snapshots.filter((s) => s.state === 'pending').map((s) => s.snapshotId));
  const states = await deps.snapshots.snapshotStates(ids);
  const report: ReconcileReport = { examined: open.length, completed: [], failed: [], stillPending: [] };
  for (const generation of open) {
    if (generation.snapshots.length === 0) {
      report.stillPending.push(generation.id); // claimed by a run that has not recorded yet
      continue;
    }
    const snapshots = generation.snapshots.map((s): SnapshotRecord => {
      if (s.state !== 'pending') return s;
      // A snapshot missing from EC2 was deleted outside snapkeeper: record it as lost, never crash on it.
      return { ...s, state: states.get(s.snapshotId) ?? 'error' };
    });
    const advanced: Generation = { ...generation, snapshots, state: stateFromSnapshots(snapshots) };
    try {
      if (advanced.state === 'failed') {
        const lost = snapshots.filter((s) => s.state === 'error').map((s) => s.snapshotId);
        const failure = `snapshots in error or missing: ${lost.join(', ')}`;
        await deps.catalog.recordOutcome({ ...advanced, consistency: 'failed', failure });
        report.failed.push({ generationId: generation.id, failure });
        deps.log.warn('generation failed', { generationId: generation.id, failure });
      } else {
        await deps.catalog.recordOutcome(advanced);
        (advanced.state === 'completed' ? report.completed : report.stillPending).push(generation.id);
        if (advanced.state === 'completed')
          deps.log.info('generation completed', { generationId: generation.id });
      }
    } catch (error) {
      deps.log.error('generation not advanced', { generationId: generation.id, error: describeError(error) });
      report.stillPending.push(generation.id);
    }
  }
  return report;
}
