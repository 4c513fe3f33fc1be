import { copiesForSchedule, type Policy } from '#core/config/config.ts';
import type { Consistency, Generation, Target } from '#core/model/generation.ts';
import {
  aliveAt,
  type ComplianceWindow,
  pointInTime,
  RPO_GRACE_SECONDS,
  type ScheduleCompliance,
  scheduleCompliance,
} from './compliance.ts';
import type { DrillRecord } from './ports.ts';

/** One target's protection at the report's time: RPO, DR RPO per Region, RTO, compliance and storage. */

/** The newest point in time a DR Region can restore, and how late it got there. */
export interface DrRpo {
  region: string;
  /** Age of the newest generation whose copy in the Region was completed by the report's time; null: none. */
  rpoSeconds: number | null;
  generationId?: string;
  takenAt?: string;
  completedAt?: string;
  /** That copy's lag: from the point in time it holds to it being usable in the Region. */
  lagSeconds?: number;
  /** Older than the most frequent copied schedule's interval plus the grace, or no copy at all. */
  breach: boolean;
}

/** A generation on the report's timeline. */
export interface TimelineEntry {
  id: string;
  schedule: string;
  scheduledAt: string;
  takenAt?: string;
  state: Generation['state'];
  consistency: Consistency;
  deleted: boolean;
  failure?: string;
  copies: { region: string; state: string; completedAt?: string; lagSeconds?: number }[];
}

export interface TargetReport {
  id: string;
  kind: Target['kind'];
  /** False when the policy no longer selects it (deleted, untagged): its RPO then only grows, and is not judged. */
  selected: boolean;
  /** Age of the newest completed generation of any schedule still holding its snapshots; null: none. */
  rpoSeconds: number | null;
  newest?: { generationId: string; schedule: string; takenAt: string; consistency: Consistency };
  /** The worst DR RPO over the policy's copy Regions; null when the policy copies nowhere or no copy exists. */
  drRpoSeconds: number | null;
  dr: DrRpo[];
  /** From the newest drill; null: no drill. */
  rtoSeconds: number | null;
  drill?: DrillRecord;
  schedules: ScheduleCompliance[];
  storage: {
    /** Snapshots of the generations still holding them in the primary Region. */
    snapshots: number;
    /** Their copies in DR Regions. */
    copySnapshots: number;
    /** Sum of `FullSnapshotSizeInBytes` over the snapshots EC2 reports it for; null when it reports none. */
    fullSizeBytes: number | null;
    sizedSnapshots: number;
  };
  /** Any schedule or DR Region beyond its interval plus the grace, for a target the policy still selects. */
  breach: boolean;
  timeline: TimelineEntry[];
}

const ageOf = (at: Date, iso: string) => Math.round((at.getTime() - Date.parse(iso)) / 1000);

/** `generations`: the target's generations of the policy scheduled at or before `window.at`. */
export function targetReport(
  policy: Policy,
  target: Target,
  generations: readonly Generation[],
  context: {
    window: ComplianceWindow;
    selected: boolean;
    drill?: DrillRecord;
    sizes: ReadonlyMap<string, number>;
  },
): TargetReport {
  const { window } = context;
  const at = window.at.toISOString();
  const alive = generations.filter((g) => aliveAt(g, at));
  const newest = alive
    .filter((g) => pointInTime(g) !== undefined)
    .sort((a, b) => (pointInTime(a) ?? '').localeCompare(pointInTime(b) ?? ''))
    .at(-1);
  const since = generations.map((g) => g.scheduledAt).sort()[0];
  const scheduleWindow = { ...window, ...(since ? { since: new Date(since) } : {}) };
  const schedules = policy.schedules.map((rule) =>
    scheduleCompliance(
      rule,
      generations.filter((g) => g.schedule === rule.name),
      scheduleWindow,
    ),
  );
  const dr = drRpos(policy, generations, schedules, window.at);
  const live = alive.flatMap((g) => g.snapshots.map((s) => s.snapshotId));
  const sized = live.filter((id) => context.sizes.has(id));
  const drills = context.drill?.rtoSeconds;
  return {
    id: target.id,
    kind: target.kind,
    selected: context.selected,
    rpoSeconds: newest ? ageOf(window.at, pointInTime(newest) ?? at) : null,
    ...(newest
      ? {
          newest: {
            generationId: newest.id,
            schedule: newest.schedule,
            takenAt: pointInTime(newest) ?? at,
            consistency: newest.consistency,
          },
        }
      : {}),
    drRpoSeconds: worst(dr.map((d) => d.rpoSeconds)),
    dr,
    rtoSeconds: drills ?? null,
    ...(context.drill ? { drill: context.drill } : {}),
    schedules,
    storage: {
      snapshots: live.length,
      copySnapshots: generations
        .flatMap((g) => g.copies.filter((c) => c.state === 'completed' && (!c.deletedAt || c.deletedAt > at)))
        .reduce((n, c) => n + c.snapshotIds.length, 0),
      fullSizeBytes: sized.length ? sized.reduce((n, id) => n + (context.sizes.get(id) ?? 0), 0) : null,
      sizedSnapshots: sized.length,
    },
    breach: context.selected && (schedules.some((s) => s.breach) || dr.some((d) => d.breach)),
    timeline: generations
      .filter((g) => g.scheduledAt > window.from.toISOString())
      .sort((a, b) => a.scheduledAt.localeCompare(b.scheduledAt))
      .map((g) => timelineEntry(g, at)),
  };
}

/** Null when there is nothing to compare or any value is missing (no copy at all is the worst). */
function worst(values: readonly (number | null)[]): number | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return Math.max(...(values as number[]));
}

/** Per copy Region of the policy: the newest generation whose copy there was usable by `at`. */
function drRpos(
  policy: Policy,
  generations: readonly Generation[],
  schedules: readonly ScheduleCompliance[],
  at: Date,
): DrRpo[] {
  const iso = at.toISOString();
  return [...new Set(policy.copies.map((c) => c.region))].map((region) => {
    const copied = policy.schedules.filter((rule) =>
      copiesForSchedule(policy, rule).some((c) => c.region === region),
    );
    const intervals = schedules
      .filter((s) => copied.some((rule) => rule.name === s.schedule) && s.intervalSeconds !== null)
      .map((s) => s.intervalSeconds as number);
    const newest = generations
      .flatMap((g) => {
        const copy = g.copies.find(
          (c) =>
            c.region === region &&
            c.state === 'completed' &&
            c.completedAt !== undefined &&
            c.completedAt <= iso &&
            (!c.deletedAt || c.deletedAt > iso),
        );
        const takenAt = pointInTime(g);
        return copy && takenAt ? [{ generation: g, copy, takenAt }] : [];
      })
      .sort((a, b) => a.takenAt.localeCompare(b.takenAt))
      .at(-1);
    const rpoSeconds = newest ? ageOf(at, newest.takenAt) : null;
    const allowed = intervals.length ? Math.min(...intervals) + RPO_GRACE_SECONDS : undefined;
    return {
      region,
      rpoSeconds,
      ...(newest
        ? {
            generationId: newest.generation.id,
            takenAt: newest.takenAt,
            completedAt: newest.copy.completedAt,
            ...(newest.copy.lagSeconds !== undefined ? { lagSeconds: newest.copy.lagSeconds } : {}),
          }
        : {}),
      breach: allowed !== undefined && (rpoSeconds === null || rpoSeconds > allowed),
    };
  });
}

/** What the timeline draws of a generation as it stood at `at`: a copy completed later was still copying. */
function timelineEntry(g: Generation, at: string): TimelineEntry {
  return {
    id: g.id,
    schedule: g.schedule,
    scheduledAt: g.scheduledAt,
    ...(g.takenAt ? { takenAt: g.takenAt } : {}),
    state: g.state,
    consistency: g.consistency,
    deleted: !aliveAt(g, at),
    ...(g.failure ? { failure: g.failure } : {}),
    copies: g.copies.map((c) => {
      const done = c.completedAt !== undefined && c.completedAt <= at;
      return {
        region: c.region,
        state: c.state === 'completed' && !done ? 'pending' : c.state,
        ...(done ? { completedAt: c.completedAt } : {}),
        ...(done && c.lagSeconds !== undefined ? { lagSeconds: c.lagSeconds } : {}),
      };
    }),
  };
}
