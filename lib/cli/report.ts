/**
 * Check results of `doctor` and how they are printed.
 */

/** Outcome of one check. `skip`: not applicable, or an earlier check failed. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One check of one endpoint. */
export interface CheckResult {
  /** Short name: `reachable`, `tls`, `responds`, `latency`, `version`, `leader`, `members`, `auth`, `keepalive`. */
  readonly name: string;
  readonly status: CheckStatus;
  /** What was found, one line. Never contains a password or token. */
  readonly detail: string;
  /** What to do about a `warn` or `fail`. */
  readonly fix?: string;
  /**
   * What was measured, for `--json` readers: durations in ms (`*Ms`), counts,
   * sizes in bytes, ids and versions as strings. Absent when nothing was measured.
   */
  readonly values?: Readonly<Record<string, number | string>>;
}

/** All checks of one endpoint. */
export interface EndpointReport {
  readonly endpoint: string;
  readonly checks: CheckResult[];
}

const TAGS: Record<CheckStatus, string> = {
  pass: 'PASS',
  warn: 'WARN',
  fail: 'FAIL',
  skip: 'SKIP',
};

/** Number of checks per status, over all endpoints. */
export function countStatuses(reports: readonly EndpointReport[]): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of reports) for (const c of r.checks) counts[c.status]++;
  return counts;
}

/** True when no check failed (warnings allowed). */
export const isHealthy = (reports: readonly EndpointReport[]): boolean =>
  reports.every(r => r.checks.every(c => c.status !== 'fail'));

/** Renders the reports and the verdict as plain text (no colours: logs and CI read it too). */
export function renderText(reports: readonly EndpointReport[]): string {
  const lines: string[] = [];
  const width = Math.max(...reports.flatMap(r => r.checks.map(c => c.name.length)), 8);
  for (const r of reports) {
    lines.push(r.endpoint);
    for (const c of r.checks) {
      lines.push(`  [${TAGS[c.status]}] ${c.name.padEnd(width)}  ${c.detail}`);
      if (c.fix && (c.status === 'fail' || c.status === 'warn'))
        lines.push(`         ${' '.repeat(width)}  FIX: ${c.fix}`);
    }
    lines.push('');
  }
  const failed = reports.filter(r => r.checks.some(c => c.status === 'fail'));
  const warned = reports.filter(r => r.checks.some(c => c.status === 'warn'));
  if (failed.length === 0) {
    lines.push(
      `Verdict: HEALTHY (${reports.length} endpoint${reports.length === 1 ? '' : 's'}${warned.length ? `, ${warned.length} with warnings` : ''})`,
    );
  } else {
    const which = failed.map(
      r =>
        `${r.endpoint}: ${r.checks
          .filter(c => c.status === 'fail')
          .map(c => c.name)
          .join(', ')}`,
    );
    lines.push(
      `Verdict: UNHEALTHY (${failed.length} of ${reports.length} endpoints failed: ${which.join('; ')})`,
    );
  }
  return `${lines.join('\n')}\n`;
}
