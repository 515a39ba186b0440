/**
 * `npm run bench`: raw `etcd3` against our `createClient`, side by side, on the same
 * local single-node etcd (started with lib/testing and stopped at the end).
 *
 * Each round runs `BENCH_WORKERS` concurrent workers (default 64), each doing gets and
 * puts 50/50 on its own small set of keys, for `BENCH_SECONDS` (default 3). Rounds
 * alternate raw, ours, raw, ours, ... (`BENCH_ROUNDS` of each, default 8, at least 3)
 * after one warm-up round per client, so that drift in the machine's load hits both
 * clients alike. Prints per-round and overall throughput (ops/s), p50 and p99 latency
 * (ms), and the ratios ours/raw, both pooled over all rounds and as the median of the
 * back-to-back round pairs. Targets (on the median of pairs): throughput >= 0.95,
 * p99 <= 1.1.
 *
 * It also prints the CPU time this process spent per op (user + system, in µs): the
 * client's own cost, which is far steadier than wall-clock numbers on a busy machine.
 *
 * etcd's data dir goes to /dev/shm when it exists (BENCH_DISK=1 keeps the default
 * temp dir): with a real disk every put waits for an fsync, which hides the client's
 * cost behind the disk's and adds noise that has nothing to do with the client.
 *
 * Env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WORKERS, BENCH_WARMUP_SECONDS (default 2),
 * BENCH_DISK=1, BENCH_JSON=1 (prints a JSON summary as the last line).
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { createClient } from '../lib/client';
import { startEtcd } from '../lib/testing';

/** What the benchmark uses of a client; both etcd3's `Etcd3` and ours fit. */
type Client = Pick<RawEtcd3, 'get' | 'put' | 'close'>;

interface RoundResult {
  ops: number;
  errors: number;
  seconds: number;
  /** CPU time of this process during the round (user + system), in µs. */
  cpuMicros: number;
  /** Latencies in ms, one per completed op. */
  latencies: Float64Array;
}

const env = (name: string, def: number, min: number): number => {
  const raw = process.env[name];
  const value = raw === undefined ? def : Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number >= ${min}, got ${raw}`);
  }
  return value;
};

const SECONDS = env('BENCH_SECONDS', 3, 0.5);
const ROUNDS = Math.floor(env('BENCH_ROUNDS', 8, 3));
const WORKERS = Math.floor(env('BENCH_WORKERS', 64, 1));
const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 2, 0);
const KEYS_PER_WORKER = 8;
/** Hard cap on ops one worker may record in one round (bounds memory and the loop). */
const MAX_OPS_PER_WORKER = 1_000_000;
const VALUE = 'v'.repeat(64);

async function round(client: Client, seconds: number, label: string): Promise<RoundResult> {
  const latencies: number[] = [];
  let errors = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (w: number) => {
    for (let i = 0; i < MAX_OPS_PER_WORKER && performance.now() < end; i++) {
      const key = `bench/${label}/${w}/${i % KEYS_PER_WORKER}`;
      const t0 = performance.now();
      try {
        if (i % 2 === 0) {
          await client.put(key).value(VALUE);
        } else {
          await client.get(key).string();
        }
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    ops: latencies.length,
    errors,
    seconds: elapsed,
    cpuMicros: used.user + used.system,
    latencies: Float64Array.from(latencies),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

interface Summary {
  opsPerSec: number;
  p50: number;
  p99: number;
  /** CPU time of this process per completed op, in µs. */
  cpuPerOp: number;
  errors: number;
}

function summarize(results: RoundResult[]): Summary {
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const seconds = results.reduce((n, r) => n + r.seconds, 0);
  const all = new Float64Array(ops);
  let offset = 0;
  for (const r of results) {
    all.set(r.latencies, offset);
    offset += r.latencies.length;
  }
  all.sort();
  return {
    opsPerSec: ops / seconds,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    cpuPerOp: results.reduce((n, r) => n + r.cpuMicros, 0) / ops,
    errors: results.reduce((n, r) => n + r.errors, 0),
  };
}

const fmt = (s: Summary) =>
  `${s.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${s.p50.toFixed(2).padStart(6)} ms  ` +
  `p99 ${s.p99.toFixed(2).padStart(6)} ms  cpu ${s.cpuPerOp.toFixed(0).padStart(4)} µs/op  errors ${s.errors}`;

interface Ratios {
  throughput: number;
  p50: number;
  p99: number;
  cpuPerOp: number;
}

const ratiosOf = (raw: Summary, ours: Summary): Ratios => ({
  throughput: ours.opsPerSec / raw.opsPerSec,
  p50: ours.p50 / raw.p50,
  p99: ours.p99 / raw.p99,
  cpuPerOp: ours.cpuPerOp / raw.cpuPerOp,
});

const fmtRatios = (r: Ratios) =>
  `throughput ${r.throughput.toFixed(3)}  p50 ${r.p50.toFixed(3)}  p99 ${r.p99.toFixed(3)}  cpu/op ${r.cpuPerOp.toFixed(3)}`;

function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function main(): Promise<void> {
  const tmpfs = process.env.BENCH_DISK !== '1' && existsSync('/dev/shm');
  const savedTmp = process.env.TMPDIR;
  if (tmpfs) {
    process.env.TMPDIR = '/dev/shm'; // os.tmpdir() is read when the data dir is made
  }
  const cluster = await startEtcd({ members: 1 }).finally(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });
  const raw: Client = new RawEtcd3({ hosts: cluster.endpoints });
  const ours: Client = createClient({ hosts: cluster.endpoints });
  const clients = { raw, ours } as const;
  const results: Record<keyof typeof clients, RoundResult[]> = { raw: [], ours: [] };
  const pairs: Ratios[] = [];
  const load = () => os.loadavg()[0].toFixed(2);
  const loadBefore = load();
  try {
    console.log(
      `etcd ${cluster.endpoints[0]} (data on ${tmpfs ? 'tmpfs' : 'disk'}); ${WORKERS} workers, 50/50 get/put, ${SECONDS} s rounds, ` +
        `${ROUNDS} rounds per client (alternating), ${WARMUP_SECONDS} s warm-up each`,
    );
    if (WARMUP_SECONDS > 0) {
      for (const name of ['raw', 'ours'] as const) {
        const r = await round(clients[name], WARMUP_SECONDS, name);
        console.log(`warm-up ${name.padEnd(4)} ${fmt(summarize([r]))}`);
      }
    }
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which client goes first, so neither always follows the other.
      const order = i % 2 === 0 ? (['raw', 'ours'] as const) : (['ours', 'raw'] as const);
      for (const name of order) {
        const r = await round(clients[name], SECONDS, name);
        results[name].push(r);
        console.log(`round ${i + 1} ${name.padEnd(4)} ${fmt(summarize([r]))}`);
      }
      const pr = ratiosOf(summarize([results.raw[i]]), summarize([results.ours[i]]));
      pairs.push(pr);
      console.log(`round ${i + 1} ratio ${fmtRatios(pr)}`);
    }
  } finally {
    await Promise.allSettled([raw.close(), ours.close()]);
    await cluster.stop();
  }
  const r = summarize(results.raw);
  const o = summarize(results.ours);
  const pooled = ratiosOf(r, o);
  const median: Ratios = {
    throughput: medianOf(pairs.map(p => p.throughput)),
    p50: medianOf(pairs.map(p => p.p50)),
    p99: medianOf(pairs.map(p => p.p99)),
    cpuPerOp: medianOf(pairs.map(p => p.cpuPerOp)),
  };
  console.log('');
  console.log(`load average (1 min) before ${loadBefore}, after ${load()}, cores ${os.cpus().length}`);
  console.log(`raw   ${fmt(r)}`);
  console.log(`ours  ${fmt(o)}`);
  console.log(`ours/raw pooled over all rounds: ${fmtRatios(pooled)}`);
  console.log(`ours/raw median of round pairs:  ${fmtRatios(median)}`);
  // Judged on the median of the pairs: each pair ran back to back under about the same
  // machine load, so one pair disturbed by another process cannot decide the outcome.
  const met = median.throughput >= 0.95 && median.p99 <= 1.1;
  console.log(`targets (throughput >= 0.95, p99 <= 1.1, median of pairs): ${met ? 'met' : 'MISSED'}`);
  if (process.env.BENCH_JSON === '1') {
    console.log(JSON.stringify({ workers: WORKERS, seconds: SECONDS, rounds: ROUNDS, raw: r, ours: o, pooled, median }));
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
