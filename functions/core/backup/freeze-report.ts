import type { Consistency } from '#core/model/generation.ts';
import type { InstanceInfo } from './ports.ts';

/**
 * What snapkeeper's Linux freeze document prints, and how the orchestrator reads it back. The document and
 * this parser share these markers, so a change to one is a change to both.
 */
export const FREEZE_REPORT = {
  /** One line per frozen filesystem: `SNAPKEEPER_FROZEN <mountpoint> <device> <nvme-serial or ->`, the mount
   * point escaped as in /proc/mounts (`\\040` for a space), so it is one word. */
  frozen: 'SNAPKEEPER_FROZEN',
  /** Last line of a freeze that completed, with the watchdog armed. */
  ok: 'SNAPKEEPER_FREEZE_OK',
  /** The thaw's finding: `SNAPKEEPER_THAWED held|watchdog|none`. */
  thawed: 'SNAPKEEPER_THAWED',
} as const;

/**
 * What a thaw found of its freeze: `held` (still frozen by that freeze; the thaw ended it), `watchdog` (the
 * freeze's watchdog had already thawed it) or `none` (that freeze froze nothing: it never ran, refused, or failed
 * and thawed itself).
 */
export type ThawOutcome = 'held' | 'watchdog' | 'none';

/** The thaw's finding, or undefined when the output says nothing (not snapkeeper's Linux document). */
export function thawOutcome(output: string): ThawOutcome | undefined {
  for (const line of output.split('\n')) {
    const [marker, outcome] = line.trim().split(/\s+/);
    if (
      marker === FREEZE_REPORT.thawed &&
      (outcome === 'held' || outcome === 'watchdog' || outcome === 'none')
    )
      return outcome;
  }
  return undefined;
}

/** The consistency a freeze gives the volumes it covered, by mode and platform. */
export function frozenConsistency(mode: 'filesystem' | 'script', windows: boolean): Consistency {
  // VSS runs the applications' writers, and a script quiesces the application itself: AWS calls both
  // application-consistent. fsfreeze alone makes the filesystem consistent, not the application.
  return mode === 'script' || windows ? 'application' : 'filesystem';
}

/** `/dev/xvdf1`, `/dev/sdf`, `xvdf` all name the same attachment point `f`; NVMe names carry no letter. */
function deviceKey(device: string): string | undefined {
  const match = /^(?:\/dev\/)?(?:xvd|sd)([a-z]+)\d*$/.exec(device);
  return match?.[1];
}

/**
 * The volume ids of the instance that the Linux document reports frozen, or undefined when the output is not a
 * complete report (the document that ran was not snapkeeper's, or it stopped half way). A volume is matched by
 * its NVMe serial (`vol0abc…`, Nitro) or else by device letter (Xen); anything unmatched is not frozen.
 */
export function volumesFrozen(output: string, instance: InstanceInfo): Set<string> | undefined {
  const lines = output.split('\n').map((line) => line.trim());
  if (!lines.includes(FREEZE_REPORT.ok)) return undefined;
  const byKey = new Map(instance.volumes.map((v) => [deviceKey(v.deviceName), v.volumeId]));
  const ids = new Set(instance.volumes.map((v) => v.volumeId));
  const frozen = new Set<string>();
  for (const line of lines) {
    const [marker, , device = '', serial = '-'] = line.split(/\s+/);
    if (marker !== FREEZE_REPORT.frozen) continue;
    const fromSerial = /^vol[0-9a-f]+$/.test(serial) ? `vol-${serial.slice(3)}` : undefined;
    const volumeId = fromSerial && ids.has(fromSerial) ? fromSerial : byKey.get(deviceKey(device));
    if (volumeId) frozen.add(volumeId);
  }
  return frozen;
}

const STRENGTH: Record<Consistency, number> = { application: 3, filesystem: 2, crash: 1, failed: 0 };

/** A set of volumes is only as consistent as its least consistent volume. */
export function weakest(consistencies: readonly Consistency[]): Consistency {
  return consistencies.reduce<Consistency>(
    (worst, c) => (STRENGTH[c] < STRENGTH[worst] ? c : worst),
    consistencies.length > 0 ? 'application' : 'crash',
  );
}
