import type { Report } from '#core/report/report.ts';
import type { TargetReport } from '#core/report/target.ts';
import { CONSISTENCY_MARK, table } from './format.ts';

/** The report as a terminal table that fits `columns` characters, and its sections below it. */

/** `5400` → `1h30m`; days past a day: `2d04h`. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d${String(hours % 24).padStart(2, '0')}h`;
}

/** `123456789` → `118 MiB`. */
export function bytes(n: number | null): string {
  if (n === null) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

interface Column {
  header: string;
  /** Lower goes first when the terminal is too narrow. */
  keep: number;
  cell: (policy: string, t: TargetReport) => string;
}

const COLUMNS: Column[] = [
  { header: 'POLICY', keep: 9, cell: (policy) => policy },
  { header: 'TARGET', keep: 10, cell: (_, t) => t.id },
  { header: 'RPO', keep: 8, cell: (_, t) => duration(t.rpoSeconds) },
  {
    header: 'CONSISTENCY',
    keep: 5,
    cell: (_, t) => (t.newest ? CONSISTENCY_MARK[t.newest.consistency] : '—'),
  },
  {
    header: 'DR RPO',
    keep: 7,
    cell: (_, t) =>
      t.dr.map((d) => `${d.region} ${d.rpoSeconds === null ? 'none' : duration(d.rpoSeconds)}`).join(', ') ||
      '—',
  },
  { header: 'RTO', keep: 4, cell: (_, t) => (t.rtoSeconds === null ? 'no drill' : duration(t.rtoSeconds)) },
  { header: 'MISSED', keep: 6, cell: (_, t) => String(t.schedules.reduce((n, s) => n + s.missed.length, 0)) },
  { header: 'FAILED', keep: 6, cell: (_, t) => String(t.schedules.reduce((n, s) => n + s.failed.length, 0)) },
  {
    header: 'LONGEST GAP',
    keep: 3,
    cell: (_, t) => duration(Math.max(0, ...t.schedules.map((s) => s.longestGapSeconds ?? 0)) || null),
  },
  {
    header: 'SNAPSHOTS',
    keep: 2,
    cell: (_, t) =>
      `${t.storage.snapshots}${t.storage.copySnapshots ? `+${t.storage.copySnapshots} DR` : ''}`,
  },
  { header: 'SIZE', keep: 1, cell: (_, t) => bytes(t.storage.fullSizeBytes) },
  { header: 'STATUS', keep: 11, cell: (_, t) => (!t.selected ? 'not selected' : t.breach ? 'BREACH' : 'ok') },
];

/** The widest line of a rendered table. */
const widthOf = (text: string) => Math.max(...text.split('\n').map((l) => [...l].length));

/** The per-target table, dropping the least needed columns, then shortening target ids, until it fits. */
export function targetTable(report: Report, columns: number): string {
  const rows = report.policies.flatMap((p) => p.targets.map((t) => ({ policy: p.name, t })));
  if (rows.length === 0) return 'No targets: no policy selects anything and the catalog has no generations.';
  let shown = [...COLUMNS];
  const render = (cols: Column[], clip = Number.POSITIVE_INFINITY) =>
    table(
      cols.map((c) => c.header),
      rows.map(({ policy, t }) =>
        cols.map((c) => clipped(c.cell(policy, t), c.header === 'TARGET' ? clip : Infinity)),
      ),
    );
  let text = render(shown);
  while (widthOf(text) > columns && shown.length > 4) {
    const drop = shown.reduce((low, c) => (c.keep < low.keep ? c : low));
    shown = shown.filter((c) => c !== drop);
    text = render(shown);
  }
  for (let clip = 20; widthOf(text) > columns && clip >= 8; clip -= 4) text = render(shown, clip);
  const hidden = COLUMNS.filter((c) => !shown.includes(c)).map((c) => c.header);
  return hidden.length
    ? `${text}\n(not shown at this width: ${hidden.join(', ')}; --json has every field)`
    : text;
}

function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function formatReport(report: Report, columns: number): string {
  const lines = [
    `Report at ${report.at}; window ${report.window.days} days from ${report.window.from}; a schedule breaches beyond its interval + ${duration(report.graceSeconds)}`,
    '',
    targetTable(report, columns),
  ];
  const issues = report.policies.flatMap((p) =>
    p.targets.flatMap((t) =>
      t.schedules
        .filter((s) => s.missed.length || s.failed.length || s.breaches.length)
        .map(
          (s) =>
            `  ${p.name}/${s.schedule} ${t.id}: ${s.missed.length} missed${s.missed.length ? ` (${s.missed.slice(0, 3).join(', ')}${s.missed.length > 3 ? ', …' : ''})` : ''}, ${s.failed.length} failed; longest gap ${duration(s.longestGapSeconds)} against an interval of ${duration(s.intervalSeconds)}`,
        ),
    ),
  );
  if (issues.length)
    lines.push('', `Schedules with missed or failed runs, or gaps (${issues.length}):`, ...issues);
  lines.push('', `Unprotected (${report.unprotected.length}): nothing backs them up`);
  for (const u of report.unprotected)
    lines.push(`  ${u.kind} ${u.id}${u.name ? ` (${u.name})` : ''}: ${u.reason}`);
  lines.push('', `Policy names that exist nowhere (${report.problems.length}):`);
  for (const p of report.problems) lines.push(`  ${p.kind} ${p.resourceId}: ${p.problem}`);
  lines.push(
    '',
    report.breaches.length
      ? `${report.breaches.length} targets beyond their interval: ${report.breaches.map((b) => `${b.policy}/${b.target}`).join(', ')}`
      : 'Every selected target is within its interval.',
  );
  return lines.join('\n');
}
