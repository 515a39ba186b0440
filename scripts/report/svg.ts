/**
 * Hand-written SVG timeline of one fault scenario: time on x, one row per client,
 * one bar per call from its start to its end (green ok, red error, black hung or
 * never returned), the fault window shaded. No dependencies.
 */
import { HUNG_MS } from './analyze';
import type { CallRecord } from './load';

/** One row of the picture. */
export interface TimelineRow {
  readonly label: string;
  readonly records: readonly CallRecord[];
}

/** Input of {@link renderTimeline}. Times in ms since t0. */
export interface Timeline {
  readonly title: string;
  readonly rows: readonly TimelineRow[];
  readonly faultStart: number;
  readonly faultEnd: number;
  /** Label of the fault window, e.g. `SIGSTOP 10 s`. */
  readonly faultLabel: string;
  /** Right edge of the picture (the load stopped here; later ends are clipped). */
  readonly endMs: number;
  /** Extra vertical markers, e.g. `registration restored`. */
  readonly markers?: ReadonlyArray<{ at: number; label: string; row?: number }>;
}

const WIDTH = 960;
const LEFT = 120;
const RIGHT = 20;
const TOP = 46;
const LANES = 8;
const LANE_H = 6;
const ROW_H = LANES * LANE_H + 26;
const COLORS = { ok: '#2e9d46', error: '#d62728', hung: '#111111' } as const;

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number): string => n.toFixed(1);

/** Renders the timeline as a standalone SVG document. */
export function renderTimeline(t: Timeline): string {
  const plotW = WIDTH - LEFT - RIGHT;
  const height = TOP + t.rows.length * ROW_H + 48;
  const x = (ms: number): number => LEFT + (Math.min(Math.max(ms, 0), t.endMs) / t.endMs) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="18" font-size="15" font-weight="bold">${esc(t.title)}</text>`,
  );
  // Fault window: shaded band (a thin band for an instant fault, which lasts from then on).
  const fx = x(t.faultStart);
  const fw = Math.max(x(t.faultEnd) - fx, 2);
  const bandBottom = TOP + t.rows.length * ROW_H;
  out.push(
    `<rect x="${fmt(fx)}" y="${TOP - 8}" width="${fmt(fw)}" height="${bandBottom - TOP + 8}" fill="#f2c94c" fill-opacity="0.35"/>`,
    `<text x="${fmt(fx + 3)}" y="${TOP - 12}" fill="#8a6d00">${esc(t.faultLabel)}</text>`,
  );
  t.rows.forEach((row, i) => {
    const y0 = TOP + i * ROW_H;
    out.push(
      `<text x="${LEFT - 8}" y="${y0 + (LANES * LANE_H) / 2 + 4}" text-anchor="end" font-weight="bold">${esc(row.label)}</text>`,
      `<line x1="${LEFT}" y1="${y0 + LANES * LANE_H + 4}" x2="${WIDTH - RIGHT}" y2="${y0 + LANES * LANE_H + 4}" stroke="#dddddd"/>`,
    );
    for (const r of row.records) {
      const end = r.end ?? Infinity;
      const hung = end - r.start > HUNG_MS;
      const color = hung ? COLORS.hung : r.ok ? COLORS.ok : COLORS.error;
      const y = y0 + (r.seq % LANES) * LANE_H + LANE_H / 2;
      const x1 = x(r.start);
      const x2 = Math.max(x(Math.min(end, t.endMs)), x1 + 2);
      out.push(
        `<line x1="${fmt(x1)}" y1="${y}" x2="${fmt(x2)}" y2="${y}" stroke="${color}" stroke-width="${LANE_H - 2}"` +
          ` stroke-linecap="butt"><title>${esc(`${r.op} #${r.seq}: ${describeCall(r)}`)}</title></line>`,
      );
      if (r.end === undefined) {
        out.push(`<text x="${fmt(x2 - 4)}" y="${y + 3}" font-size="8" fill="${COLORS.hung}">▸</text>`);
      }
    }
  });
  for (const m of t.markers ?? []) {
    const mx = x(m.at);
    const y0 = TOP + (m.row ?? 0) * ROW_H;
    out.push(
      `<line x1="${fmt(mx)}" y1="${y0 - 4}" x2="${fmt(mx)}" y2="${y0 + LANES * LANE_H + 6}" stroke="#1f5fbf" stroke-width="2" stroke-dasharray="4 2"/>`,
      `<text x="${fmt(mx + 3)}" y="${y0 + LANES * LANE_H + 18}" fill="#1f5fbf" font-size="11">${esc(m.label)}</text>`,
    );
  }
  // Time axis, a tick every 5 s.
  const axisY = bandBottom + 8;
  out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${WIDTH - RIGHT}" y2="${axisY}" stroke="#555555"/>`);
  for (let s = 0; s * 1000 <= t.endMs; s += 5) {
    const tx = x(s * 1000);
    out.push(
      `<line x1="${fmt(tx)}" y1="${axisY}" x2="${fmt(tx)}" y2="${axisY + 4}" stroke="#555555"/>`,
      `<text x="${fmt(tx)}" y="${axisY + 16}" text-anchor="middle" fill="#555555">${s} s</text>`,
    );
  }
  // Legend.
  const ly = axisY + 32;
  const items: Array<[string, string]> = [
    [COLORS.ok, 'ok'],
    [COLORS.error, 'error'],
    [COLORS.hung, `hung (> ${HUNG_MS / 1000} s or never returned ▸)`],
    ['#f2c94c', 'fault'],
  ];
  let lx = LEFT;
  for (const [color, label] of items) {
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="10" fill="${color}"${color === '#f2c94c' ? ' fill-opacity="0.6"' : ''}/>`,
      `<text x="${lx + 18}" y="${ly}">${esc(label)}</text>`,
    );
    lx += 40 + label.length * 6.5;
  }
  out.push(
    `<text x="${WIDTH - RIGHT}" y="${ly}" text-anchor="end" fill="#777777">one bar per call, start to end; a call every 100 ms</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

function describeCall(r: CallRecord): string {
  const start = `${(r.start / 1000).toFixed(2)} s`;
  if (r.end === undefined) return `started ${start}, never returned`;
  const took = `${((r.end - r.start) / 1000).toFixed(2)} s`;
  return r.ok ? `started ${start}, ok in ${took}` : `started ${start}, failed after ${took}: ${r.error ?? ''}`;
}
