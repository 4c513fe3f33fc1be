import type { Report } from '#core/report/report.ts';
import type { TargetReport, TimelineEntry } from '#core/report/target.ts';
import { bytes, duration } from './report-text.ts';

/**
 * `report --html`: one self-contained page (inline CSS, SVG and a few lines of JS; nothing fetched): the summary,
 * per target a timeline of the window (generations coloured by consistency, each DR Region on its own lane, gaps
 * that breach the schedule shaded, missed runs crossed, details on hover), and the unprotected list.
 */

const COLOURS: Record<string, string> = {
  application: '#1b7f3b',
  filesystem: '#43a047',
  crash: '#f0a202',
  failed: '#d32f2f',
  pending: '#9e9e9e',
};
const WIDTH = 960;
const LEFT = 110;
const LANE = 30;

const html = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}h3{font-size:14px;margin:18px 0 4px}
.sub{color:#666}.cards{display:flex;gap:12px;margin:14px 0}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:22px}.bad b{color:#d32f2f}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.breach{color:#d32f2f;font-weight:600}.legend span{margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
#tip{position:fixed;display:none;background:#222;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;white-space:pre;pointer-events:none}`;

/** Hover details: the `<title>` of the element under the pointer, shown at once in a box that follows it. */
const JS = `(function(){var tip=document.getElementById('tip');
document.addEventListener('mousemove',function(e){var t=e.target&&e.target.closest?e.target.closest('[data-tip]'):null;
if(!t){tip.style.display='none';return;}tip.textContent=t.getAttribute('data-tip');tip.style.display='block';
tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});})();`;

export function reportHtml(report: Report): string {
  const targets = report.policies.flatMap((p) => p.targets.map((t) => ({ policy: p.name, t })));
  const card = (label: string, value: number, bad = false) =>
    `<div class="card${bad && value > 0 ? ' bad' : ''}"><b>${value}</b>${label}</div>`;
  const rows = targets
    .map(
      ({ policy, t }) =>
        `<tr><td>${html(policy)}</td><td><a href="#${html(anchor(policy, t))}">${html(t.id)}</a></td><td>${duration(t.rpoSeconds)}</td><td>${t.newest?.consistency ?? '—'}</td><td>${html(t.dr.map((d) => `${d.region} ${d.rpoSeconds === null ? 'none' : duration(d.rpoSeconds)}`).join(', ') || '—')}</td><td>${t.rtoSeconds === null ? 'no drill' : duration(t.rtoSeconds)}</td><td>${t.storage.snapshots}</td><td>${bytes(t.storage.fullSizeBytes)}</td><td${t.breach ? ' class="breach"' : ''}>${!t.selected ? 'not selected' : t.breach ? 'BREACH' : 'ok'}</td></tr>`,
    )
    .join('\n');
  const legend = Object.entries(COLOURS)
    .map(([name, colour]) => `<span><i style="background:${colour}"></i>${name}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>snapkeeper report ${html(report.at)}</title>
<style>${CSS}</style></head><body>
<h1>snapkeeper report</h1>
<div class="sub">at ${html(report.at)} · window ${report.window.days} days from ${html(report.window.from)} · a schedule breaches beyond its interval + ${duration(report.graceSeconds)}</div>
<div class="cards">${card('targets', targets.length)}${card('beyond their interval', report.breaches.length, true)}${card('unprotected', report.unprotected.length, true)}${card('unknown policy names', report.problems.length, true)}</div>
<table><tr><th>Policy</th><th>Target</th><th>RPO</th><th>Consistency</th><th>DR RPO</th><th>RTO</th><th>Snapshots</th><th>Size</th><th>Status</th></tr>
${rows}</table>
<h2>Timelines</h2><div class="legend">${legend}<span>shaded: a gap beyond the interval · ✕: a missed run</span></div>
${targets.map(({ policy, t }) => targetSection(policy, t, report)).join('\n')}
<h2>Unprotected (${report.unprotected.length})</h2>
${list(
  report.unprotected.map((u) => `${u.kind} ${u.id}${u.name ? ` (${u.name})` : ''}: ${u.reason}`),
  'unprotected',
)}
<h2>Policy names that exist nowhere (${report.problems.length})</h2>
${list(
  report.problems.map((p) => `${p.kind} ${p.resourceId}: ${p.problem}`),
  'unknown-policies',
)}
<div id="tip"></div><script>${JS}</script>
</body></html>
`;
}

function list(items: string[], id: string): string {
  if (items.length === 0) return `<p id="${id}">None.</p>`;
  return `<ul id="${id}">${items.map((i) => `<li>${html(i)}</li>`).join('')}</ul>`;
}

const anchor = (policy: string, t: TargetReport) => `${policy}--${t.id}`;

function targetSection(policy: string, t: TargetReport, report: Report): string {
  const from = Date.parse(report.window.from);
  const span = Math.max(1, Date.parse(report.at) - from);
  // Clamped to the axis: a replayed history can hold a copy recorded before its generation's time.
  const x = (iso: string) =>
    LEFT + Math.min(1, Math.max(0, (Date.parse(iso) - from) / span)) * (WIDTH - LEFT - 10);
  const lanes = ['primary', ...t.dr.map((d) => d.region)];
  const y = (lane: number) => 20 + lane * LANE;
  const height = y(lanes.length) + 10;
  const shapes: string[] = [];
  lanes.forEach((name, lane) => {
    shapes.push(
      `<text x="4" y="${y(lane) + 4}" font-size="12">${html(name)}</text><line x1="${LEFT}" x2="${WIDTH - 10}" y1="${y(lane)}" y2="${y(lane)}" stroke="#ccc"/>`,
    );
  });
  for (const s of t.schedules) {
    for (const gap of s.breaches) {
      const tip = `${s.schedule}: no completed generation for ${duration(gap.seconds)} (interval ${duration(s.intervalSeconds)})\n${gap.from} → ${gap.to}`;
      shapes.push(
        `<rect class="gap" data-tip="${html(tip)}" x="${x(gap.from).toFixed(1)}" y="${y(0) - 11}" width="${Math.max(1, x(gap.to) - x(gap.from)).toFixed(1)}" height="22" fill="#d32f2f" fill-opacity="0.18"><title>${html(tip)}</title></rect>`,
      );
    }
    for (const missed of s.missed) {
      const [cx, cy] = [x(missed), y(0)];
      const tip = `missed: ${s.schedule} at ${missed} made no generation`;
      shapes.push(
        `<path class="missed" data-tip="${html(tip)}" d="M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx - 5},${cy + 5}L${cx + 5},${cy - 5}" stroke="#d32f2f" stroke-width="2.5"><title>${html(tip)}</title></path>`,
      );
    }
  }
  for (const g of t.timeline) shapes.push(...generationShapes(g, lanes, x, y, report.at));
  const head = `${html(policy)} · ${html(t.id)} · RPO ${duration(t.rpoSeconds)}${t.dr.map((d) => ` · ${html(d.region)} ${d.rpoSeconds === null ? 'none' : duration(d.rpoSeconds)}`).join('')} · RTO ${t.rtoSeconds === null ? 'no drill' : duration(t.rtoSeconds)}`;
  return `<h3 id="${html(anchor(policy, t))}"${t.breach ? ' class="breach"' : ''}>${head}</h3>
<svg class="timeline" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${html(`timeline of ${t.id}`)}">${shapes.join('')}</svg>`;
}

function generationShapes(
  g: TimelineEntry,
  lanes: string[],
  x: (iso: string) => number,
  y: (lane: number) => number,
  at: string,
): string[] {
  const colour = COLOURS[g.state === 'completed' ? g.consistency : g.state] ?? COLOURS.pending;
  const when = g.takenAt ?? g.scheduledAt;
  const tip = [
    `${g.id} (${g.schedule})`,
    `scheduled ${g.scheduledAt}`,
    `taken ${g.takenAt ?? '—'}`,
    `${g.state}, ${g.consistency}${g.deleted ? ', pruned' : ''}`,
    ...(g.failure ? [g.failure] : []),
  ].join('\n');
  const shapes = [
    `<circle class="generation" data-tip="${html(tip)}" cx="${x(when).toFixed(1)}" cy="${y(0)}" r="5" fill="${colour}" fill-opacity="${g.deleted ? 0.35 : 1}"><title>${html(tip)}</title></circle>`,
  ];
  for (const copy of g.copies) {
    const lane = lanes.indexOf(copy.region);
    if (lane < 0) continue;
    const end = copy.completedAt ?? at;
    const done = copy.completedAt !== undefined;
    const copyTip = `${g.id} → ${copy.region}: ${copy.state}${done ? ` at ${copy.completedAt}, lag ${duration(copy.lagSeconds)}` : ' (not usable yet)'}`;
    shapes.push(
      `<g class="copy" data-tip="${html(copyTip)}"><title>${html(copyTip)}</title><line x1="${x(when).toFixed(1)}" x2="${x(end).toFixed(1)}" y1="${y(lane)}" y2="${y(lane)}" stroke="${colour}" stroke-width="2"${done ? '' : ' stroke-dasharray="3 3"'}/><circle cx="${x(end).toFixed(1)}" cy="${y(lane)}" r="4" fill="${done ? colour : '#fff'}" stroke="${colour}" stroke-width="1.5"/></g>`,
    );
  }
  return shapes;
}
