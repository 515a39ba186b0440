/**
 * Renders scenario results as a markdown table (for docs/report/README.md and for
 * `npm run compare`'s terminal output).
 */
import type { CallStats } from './analyze';
import { CLIENT_LABELS, CLIENTS, type ScenarioResult } from './scenario';

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** "0.9 s (error)", "5.0 s (slow)", or "not disrupted". */
export function learnCell(st: CallStats): string {
  if (st.learnMs === undefined) return 'not disrupted';
  return `${s(st.learnMs)} (${st.learnKind === 'error' ? 'error' : 'call > 5 s'})`;
}

/** "0.3 s", "**never**", or "—" when the client was not disrupted. */
export function recoverCell(st: CallStats): string {
  if (st.learnMs === undefined && st.hung === 0) return '—';
  if (st.recoverMs === undefined) return '**never**';
  const relapse = st.failedAfterRecovery > 0 ? ` (then ${st.failedAfterRecovery} more failed)` : '';
  return `${s(st.recoverMs)}${relapse}`;
}

/** "95 / 3 / 0". Hung in bold when non-zero. */
export function callsCell(st: CallStats): string {
  const hung = st.hung > 0 ? `**${st.hung}**` : '0';
  return `${st.ok} / ${st.errors} / ${hung}`;
}

/** "5.0 s" or "∞ (never returned)". */
export function longestCell(st: CallStats): string {
  return Number.isFinite(st.longestMs)
    ? s(st.longestMs)
    : `**∞** (${st.neverReturned} never returned)`;
}

/** The results table, one row per fault and client. */
export function resultsTable(
  results: readonly ScenarioResult[],
  link?: (r: ScenarioResult) => string,
): string {
  const lines = [
    '| Fault | Client | Learns of the fault | Recovers after heal | Calls ok / error / hung | Longest call | Watch: lost / duplicated | Registration / discovery |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    for (const name of CLIENTS) {
      const o = r.clients[name];
      const fault =
        name === CLIENTS[0] ? (link ? `[${r.spec.title}](${link(r)})` : r.spec.title) : '';
      const watch = o.watch.failed
        ? 'watch failed'
        : `${o.watch.lost > 0 ? `**${o.watch.lost}**` : '0'} / ${o.watch.duplicated > 0 ? `**${o.watch.duplicated}**` : '0'} of ${o.watch.applied}`;
      const extra = o.extra ? `${r.addonColumn}: ${o.extra}` : '';
      lines.push(
        `| ${fault} | ${CLIENT_LABELS[name]} | ${learnCell(o.stats)} | ${recoverCell(o.stats)} | ${callsCell(o.stats)} | ${longestCell(o.stats)} | ${watch} | ${extra} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The most frequent errors per client and fault, for the notes. */
export function errorNotes(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    for (const name of CLIENTS) {
      const top = r.clients[name].stats.topErrors;
      if (top.length === 0) continue;
      const list = top
        .map(e => `\`${e.error.replace(/`/g, "'").replace(/\|/g, '/')}\` ×${e.count}`)
        .join('; ');
      lines.push(`- **${r.spec.id}**, ${CLIENT_LABELS[name]}: ${list}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
