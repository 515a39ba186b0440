/**
 * Statistics and formatting for scripts/bench.ts: rounds to summaries, ratios
 * ours/raw, medians.
 */

/** What one client process measured in one round. */
export interface RoundResult {
  ops: number;
  errors: number;
  seconds: number;
  /** CPU time of the client process during the round (user + system), in µs. */
  cpuMicros: number;
  /** CPU time of the etcd server during the round, in µs (NaN when unknown). */
  serverCpuMicros: number;
  /** Latencies in ms, one per completed op. */
  latencies: number[];
}

export interface Summary {
  opsPerSec: number;
  p50: number;
  p99: number;
  /** CPU time of the client process per completed op, in µs. */
  cpuPerOp: number;
  /** CPU time of the etcd server per completed op, in µs. */
  serverCpuPerOp: number;
  errors: number;
}

/** ours / raw, per metric. */
export interface Ratios {
  throughput: number;
  p50: number;
  p99: number;
  cpuPerOp: number;
  serverCpuPerOp: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Pools rounds: total ops over total time, percentiles over all latencies. */
export function summarize(results: RoundResult[]): Summary {
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const all = new Float64Array(ops);
  let offset = 0;
  for (const r of results) {
    all.set(r.latencies, offset);
    offset += r.latencies.length;
  }
  all.sort();
  return {
    opsPerSec: ops / results.reduce((n, r) => n + r.seconds, 0),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    cpuPerOp: results.reduce((n, r) => n + r.cpuMicros, 0) / ops,
    serverCpuPerOp: results.reduce((n, r) => n + r.serverCpuMicros, 0) / ops,
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}

export const ratiosOf = (raw: Summary, ours: Summary): Ratios => ({
  throughput: ours.opsPerSec / raw.opsPerSec,
  p50: ours.p50 / raw.p50,
  p99: ours.p99 / raw.p99,
  cpuPerOp: ours.cpuPerOp / raw.cpuPerOp,
  serverCpuPerOp: ours.serverCpuPerOp / raw.serverCpuPerOp,
});

export function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The median of each ratio over back-to-back round pairs. */
export function medianRatios(pairs: Ratios[]): Ratios {
  return {
    throughput: medianOf(pairs.map(p => p.throughput)),
    p50: medianOf(pairs.map(p => p.p50)),
    p99: medianOf(pairs.map(p => p.p99)),
    cpuPerOp: medianOf(pairs.map(p => p.cpuPerOp)),
    serverCpuPerOp: medianOf(pairs.map(p => p.serverCpuPerOp)),
  };
}

export const fmt = (s: Summary) =>
  `${s.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${s.p50.toFixed(2).padStart(6)} ms  ` +
  `p99 ${s.p99.toFixed(2).padStart(6)} ms  cpu ${s.cpuPerOp.toFixed(1).padStart(6)} µs/op  ` +
  `etcd cpu ${s.serverCpuPerOp.toFixed(1).padStart(6)} µs/op  errors ${s.errors}`;

export const fmtRatios = (r: Ratios) =>
  `throughput ${r.throughput.toFixed(3)}  p50 ${r.p50.toFixed(3)}  p99 ${r.p99.toFixed(3)}  ` +
  `cpu/op ${r.cpuPerOp.toFixed(3)}  etcd cpu/op ${r.serverCpuPerOp.toFixed(3)}`;
