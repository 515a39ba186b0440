/**
 * Hand-written SVG timeline of one fault scenario: time on x, one row per client,
 * one dot per call at its start time and its duration (green ok, red error, black
 * hung or never returned), the fault window shaded. No dependencies.
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
const LEFT = 150;
const RIGHT = 20;
const TOP = 46;
/** Height of one client's plot area. */
const PLOT_H = 110;
const ROW_GAP = 30;
const ROW_H = PLOT_H + ROW_GAP;
/** Duration axis (log scale): 1 ms at the bottom, {@link MAX_MS} below the "never" band. */
const MIN_MS = 1;
const MAX_MS = 12_000;
const NEVER_BAND = 12;
const COLORS = { ok: '#2e9d46', error: '#d62728', hung: '#111111' } as const;

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number): string => n.toFixed(1);

/**
 * Renders the timeline as a standalone SVG document: per client a scatter of its
 * calls, x = when the call started, y = how long it took (log scale), with calls
 * that never returned on a band at the top.
 */
export function renderTimeline(t: Timeline): string {
  const plotW = WIDTH - LEFT - RIGHT;
  const height = TOP + t.rows.length * ROW_H + 50;
  const x = (ms: number): number => LEFT + (Math.min(Math.max(ms, 0), t.endMs) / t.endMs) * plotW;
  const yIn = (y0: number, ms: number): number => {
    if (!Number.isFinite(ms)) return y0 + NEVER_BAND / 2;
    const v =
      Math.log10(Math.min(Math.max(ms, MIN_MS), MAX_MS) / MIN_MS) / Math.log10(MAX_MS / MIN_MS);
    return y0 + NEVER_BAND + (1 - v) * (PLOT_H - NEVER_BAND);
  };
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="18" font-size="15" font-weight="bold">${esc(t.title)}</text>`,
  );
  // Fault window: shaded band (a thin band for an instant fault).
  const fx = x(t.faultStart);
  const fw = Math.max(x(t.faultEnd) - fx, 2);
  const bandBottom = TOP + t.rows.length * ROW_H - ROW_GAP;
  out.push(
    `<rect x="${fmt(fx)}" y="${TOP - 8}" width="${fmt(fw)}" height="${bandBottom - TOP + 8}" fill="#f2c94c" fill-opacity="0.35"/>`,
    `<text x="${fmt(fx + 3)}" y="${TOP - 12}" fill="#8a6d00">${esc(t.faultLabel)}</text>`,
  );
  t.rows.forEach((row, i) => {
    const y0 = TOP + i * ROW_H;
    out.push(
      `<text x="8" y="${y0 + PLOT_H / 2}" font-weight="bold">${esc(row.label)}</text>`,
      `<text x="8" y="${y0 + PLOT_H / 2 + 15}" fill="#777777" font-size="10">call duration (log)</text>`,
      `<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${NEVER_BAND}" fill="#eeeeee"/>`,
      `<text x="${LEFT - 6}" y="${y0 + NEVER_BAND - 2}" text-anchor="end" font-size="10" fill="#555555">never</text>`,
    );
    for (const [ms, label] of [
      [1, '1 ms'],
      [10, '10 ms'],
      [100, '100 ms'],
      [1000, '1 s'],
      [5000, '5 s'],
    ] as const) {
      const gy = yIn(y0, ms);
      const dash = ms === 5000 ? ' stroke-dasharray="4 3"' : '';
      out.push(
        `<line x1="${LEFT}" y1="${fmt(gy)}" x2="${WIDTH - RIGHT}" y2="${fmt(gy)}" stroke="${ms === 5000 ? '#999999' : '#e4e4e4'}"${dash}/>`,
        `<text x="${LEFT - 6}" y="${fmt(gy + 3)}" text-anchor="end" font-size="10" fill="#555555">${label}</text>`,
      );
    }
    for (const r of row.records) {
      const took = r.end === undefined ? Infinity : r.end - r.start;
      const color = took > HUNG_MS ? COLORS.hung : r.ok ? COLORS.ok : COLORS.error;
      out.push(
        `<circle cx="${fmt(x(r.start))}" cy="${fmt(yIn(y0, took))}" r="2.6" fill="${color}" fill-opacity="0.85">` +
          `<title>${esc(`${r.op} #${r.seq}: ${describeCall(r)}`)}</title></circle>`,
      );
    }
  });
  for (const m of t.markers ?? []) {
    const mx = x(m.at);
    const y0 = TOP + (m.row ?? 0) * ROW_H;
    const y1 = m.row === undefined ? bandBottom : y0 + PLOT_H;
    out.push(
      `<line x1="${fmt(mx)}" y1="${y0}" x2="${fmt(mx)}" y2="${y1 + 4}" stroke="#1f5fbf" stroke-width="2" stroke-dasharray="4 2"/>`,
      m.row === undefined
        ? `<text x="${fmt(mx + 3)}" y="${TOP + NEVER_BAND + 12}" fill="#1f5fbf" font-size="11">${esc(m.label)}</text>`
        : `<text x="${fmt(mx + 3)}" y="${y1 + 14}" fill="#1f5fbf" font-size="11">${esc(m.label)}</text>`,
    );
  }
  // Time axis, a tick every 5 s.
  const axisY = bandBottom + 8;
  out.push(
    `<line x1="${LEFT}" y1="${axisY}" x2="${WIDTH - RIGHT}" y2="${axisY}" stroke="#555555"/>`,
  );
  for (let s = 0; s * 1000 <= t.endMs; s += 5) {
    const tx = x(s * 1000);
    out.push(
      `<line x1="${fmt(tx)}" y1="${axisY}" x2="${fmt(tx)}" y2="${axisY + 4}" stroke="#555555"/>`,
      `<text x="${fmt(tx)}" y="${axisY + 16}" text-anchor="middle" fill="#555555">${s} s</text>`,
    );
  }
  // Legend.
  const ly = axisY + 36;
  const items: Array<[string, string]> = [
    [COLORS.ok, 'ok'],
    [COLORS.error, 'error'],
    [COLORS.hung, `hung (> ${HUNG_MS / 1000} s or never returned)`],
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
    `<text x="${WIDTH - RIGHT}" y="${ly}" text-anchor="end" fill="#777777">one dot per call: x = start, y = duration; a call every 100 ms</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

function describeCall(r: CallRecord): string {
  const start = `${(r.start / 1000).toFixed(2)} s`;
  if (r.end === undefined) return `started ${start}, never returned`;
  const took = `${((r.end - r.start) / 1000).toFixed(2)} s`;
  return r.ok
    ? `started ${start}, ok in ${took}`
    : `started ${start}, failed after ${took}: ${r.error ?? ''}`;
}
