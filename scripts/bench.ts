/**
 * `npm run bench`: raw `etcd3` against our `createClient`, side by side.
 *
 * Part 1, end to end, on one local single-node etcd (started with lib/testing, stopped
 * at the end). Each round runs `BENCH_WORKERS` concurrent workers (default 64), each
 * doing puts and gets 50/50 on its own small set of keys, for `BENCH_SECONDS` (default
 * 2). Rounds alternate raw, ours, ours, raw, ... (`BENCH_ROUNDS` pairs, default 12, at
 * least 3) after a warm-up round per client, so that drift in the machine's load hits
 * both clients alike. Prints per-round throughput (ops/s), p50 and p99 latency (ms) and
 * the CPU time per op (µs) of this process and of etcd (from /proc; a deadline on every
 * call costs etcd a timer too), and the ratios ours/raw: pooled over all rounds,
 * and the median of the back-to-back pairs (robust to one pair being disturbed by
 * another process). Targets, on the median of pairs: throughput >= 0.95, p99 <= 1.1.
 *
 * Part 2, the client layers' own CPU cost: the same workload with the network taken
 * out (etcd3's `Host.getServiceClient` answers from memory on the next turn of the
 * event loop), so what is measured is etcd3's builders plus, for ours, our pool
 * (options, call kind, retry and breaker policies, endpoint order, readiness check,
 * auth metadata). It cannot see grpc-js's own cost of the per-attempt deadline we set.
 *
 * Our client is measured as users run it: lib/ is first compiled with tsc (to
 * .tmp/bench-dist) and loaded from there. Run from source under tsx instead it costs
 * several µs more per op, which has nothing to do with the library (BENCH_SOURCE=1
 * does that anyway).
 *
 * etcd's data dir goes to /dev/shm when it exists (BENCH_DISK=1 keeps the default temp
 * dir): on a real disk every put waits for an fsync, which hides the client's cost and
 * adds noise that has nothing to do with the client.
 *
 * Env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WORKERS, BENCH_WARMUP_SECONDS (default 2),
 * BENCH_DISK=1, BENCH_SOURCE=1, BENCH_JSON=1 (prints a JSON summary as the last line).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectivityState } from '@grpc/grpc-js';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { Host } from 'etcd3/lib/connection-pool';
import type { createClient as CreateClient } from '../lib/client';
import { startEtcd } from '../lib/testing';

/** What the benchmark uses of a client; both etcd3's `Etcd3` and ours fit. */
type Client = Pick<RawEtcd3, 'get' | 'put' | 'close'>;
type Name = 'raw' | 'ours';

interface RoundResult {
  ops: number;
  errors: number;
  seconds: number;
  /** CPU time of this process during the round (user + system), in µs. */
  cpuMicros: number;
  /** CPU time of the etcd server during the round, in µs (NaN when unknown). */
  serverCpuMicros: number;
  /** Latencies in ms, one per completed op. */
  latencies: Float64Array;
}

interface Summary {
  opsPerSec: number;
  p50: number;
  p99: number;
  /** CPU time of this process per completed op, in µs. */
  cpuPerOp: number;
  /** CPU time of the etcd server per completed op, in µs. */
  serverCpuPerOp: number;
  errors: number;
}

interface Ratios {
  throughput: number;
  p50: number;
  p99: number;
  cpuPerOp: number;
  serverCpuPerOp: number;
}

const env = (name: string, def: number, min: number): number => {
  const raw = process.env[name];
  const value = raw === undefined ? def : Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number >= ${min}, got ${raw}`);
  }
  return value;
};

const SECONDS = env('BENCH_SECONDS', 2, 0.5);
const ROUNDS = Math.floor(env('BENCH_ROUNDS', 12, 3));
const WORKERS = Math.floor(env('BENCH_WORKERS', 64, 1));
const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 2, 0);
const KEYS_PER_WORKER = 8;
/** Hard cap on ops one worker may do in one round (bounds memory and the loop). */
const MAX_OPS_PER_WORKER = 1_000_000;
const VALUE = 'v'.repeat(64);

/** Compiles lib/ with tsc and loads our `createClient` from the output (see the header). */
function loadCreateClient(): typeof CreateClient {
  if (process.env.BENCH_SOURCE === '1') {
    return require('../lib/client').createClient;
  }
  const root = path.resolve(__dirname, '..');
  const outDir = path.join(root, '.tmp', 'bench-dist');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir],
    { stdio: 'inherit', timeout: 120_000 },
  );
  return require(path.join(outDir, 'lib', 'client.js')).createClient;
}

const createClient = loadCreateClient();

/** Linux clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every mainstream kernel). */
const USER_HZ = 100;

/** CPU time (user + system) used so far by process `pid`, in µs; NaN if unknown. */
function processCpuMicros(pid: number | undefined): number {
  if (pid === undefined) {
    return NaN;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / USER_HZ; // utime, stime
  } catch {
    return NaN;
  }
}

let serverPid: number | undefined;

async function round(client: Client, seconds: number, label: string): Promise<RoundResult> {
  const latencies: number[] = [];
  let errors = 0;
  const serverCpu = processCpuMicros(serverPid);
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
  const used = process.cpuUsage(cpu);
  return {
    ops: latencies.length,
    errors,
    seconds: (performance.now() - start) / 1000,
    cpuMicros: used.user + used.system,
    serverCpuMicros: processCpuMicros(serverPid) - serverCpu,
    latencies: Float64Array.from(latencies),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summarize(results: RoundResult[]): Summary {
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

const ratiosOf = (raw: Summary, ours: Summary): Ratios => ({
  throughput: ours.opsPerSec / raw.opsPerSec,
  p50: ours.p50 / raw.p50,
  p99: ours.p99 / raw.p99,
  cpuPerOp: ours.cpuPerOp / raw.cpuPerOp,
  serverCpuPerOp: ours.serverCpuPerOp / raw.serverCpuPerOp,
});

function medianOf(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const fmt = (s: Summary) =>
  `${s.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${s.p50.toFixed(2).padStart(6)} ms  ` +
  `p99 ${s.p99.toFixed(2).padStart(6)} ms  cpu ${s.cpuPerOp.toFixed(1).padStart(6)} µs/op  ` +
  `etcd cpu ${s.serverCpuPerOp.toFixed(1).padStart(6)} µs/op  errors ${s.errors}`;
const fmtRatios = (r: Ratios) =>
  `throughput ${r.throughput.toFixed(3)}  p50 ${r.p50.toFixed(3)}  p99 ${r.p99.toFixed(3)}  ` +
  `cpu/op ${r.cpuPerOp.toFixed(3)}  etcd cpu/op ${r.serverCpuPerOp.toFixed(3)}`;

/** Runs alternating rounds of both clients; returns all rounds of each. */
async function alternate(
  clients: Record<Name, Client>,
  seconds: number,
  pairs: number,
  log: (line: string) => void,
): Promise<{ results: Record<Name, RoundResult[]>; pairs: Ratios[] }> {
  const results: Record<Name, RoundResult[]> = { raw: [], ours: [] };
  const ratios: Ratios[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate which client goes first, so neither always follows the other.
    const order: Name[] = i % 2 === 0 ? ['raw', 'ours'] : ['ours', 'raw'];
    for (const name of order) {
      const r = await round(clients[name], seconds, name);
      results[name].push(r);
      log(`round ${String(i + 1).padStart(2)} ${name.padEnd(4)} ${fmt(summarize([r]))}`);
    }
    ratios.push(ratiosOf(summarize([results.raw[i]]), summarize([results.ours[i]])));
  }
  return { results, pairs: ratios };
}

function medianRatios(pairs: Ratios[]): Ratios {
  return {
    throughput: medianOf(pairs.map(p => p.throughput)),
    p50: medianOf(pairs.map(p => p.p50)),
    p99: medianOf(pairs.map(p => p.p99)),
    cpuPerOp: medianOf(pairs.map(p => p.cpuPerOp)),
    serverCpuPerOp: medianOf(pairs.map(p => p.serverCpuPerOp)),
  };
}

/** Part 1: both clients against one real etcd. */
async function endToEnd() {
  const tmpfs = process.env.BENCH_DISK !== '1' && existsSync('/dev/shm');
  const savedTmp = process.env.TMPDIR;
  if (tmpfs) {
    process.env.TMPDIR = '/dev/shm'; // os.tmpdir() is read when the data dir is made
  }
  const cluster = await startEtcd({ members: 1 }).finally(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });
  serverPid = cluster.members[0].pid;
  const clients: Record<Name, Client> = {
    raw: new RawEtcd3({ hosts: cluster.endpoints }),
    ours: createClient({ hosts: cluster.endpoints }),
  };
  const loadBefore = os.loadavg()[0];
  try {
    console.log(
      `Part 1: etcd ${cluster.endpoints[0]} (data on ${tmpfs ? "tmpfs" : "disk"}), our client from ` +
        `${process.env.BENCH_SOURCE === "1" ? "source (tsx)" : "compiled lib"}; ${WORKERS} workers, ` +
        `50/50 put/get, ${SECONDS} s rounds, ${ROUNDS} pairs (alternating), ${WARMUP_SECONDS} s warm-up each`,
    );
    if (WARMUP_SECONDS > 0) {
      for (const name of ['raw', 'ours'] as const) {
        console.log(`warm-up  ${name.padEnd(4)} ${fmt(summarize([await round(clients[name], WARMUP_SECONDS, name)]))}`);
      }
    }
    const run = await alternate(clients, SECONDS, ROUNDS, line => console.log(line));
    const raw = summarize(run.results.raw);
    const ours = summarize(run.results.ours);
    const result = { raw, ours, pooled: ratiosOf(raw, ours), median: medianRatios(run.pairs) };
    console.log('');
    console.log(`load average (1 min) before ${loadBefore.toFixed(2)}, after ${os.loadavg()[0].toFixed(2)}, cores ${os.cpus().length}`);
    console.log(`raw   ${fmt(raw)}`);
    console.log(`ours  ${fmt(ours)}`);
    console.log(`ours/raw pooled over all rounds: ${fmtRatios(result.pooled)}`);
    console.log(`ours/raw median of round pairs:  ${fmtRatios(result.median)}`);
    return result;
  } finally {
    serverPid = undefined;
    await Promise.allSettled([clients.raw.close(), clients.ours.close()]);
    await cluster.stop();
  }
}

/** Part 2: the same workload with the network stubbed out; CPU µs per op of each client. */
async function layersOnly() {
  const proto = Host.prototype as unknown as { getServiceClient: unknown };
  const original = proto.getServiceClient;
  const channel = {
    getConnectivityState: () => connectivityState.READY,
    watchConnectivityState: () => undefined,
    close: () => undefined,
  };
  type Callback = (err: null, res: unknown) => void;
  const answer = (res: unknown) => (_p: unknown, _m: unknown, _o: unknown, cb: Callback) => setImmediate(cb, null, res);
  const stub = {
    range: answer({ header: {}, kvs: [], count: '0', more: false }),
    put: answer({ header: {} }),
    getChannel: () => channel,
    close: () => undefined,
  };
  proto.getServiceClient = () => stub;
  // Hosts that are never dialled: every call is answered by the stub.
  const clients: Record<Name, Client> = { raw: new RawEtcd3({ hosts: '127.0.0.1:9' }), ours: createClient({ hosts: '127.0.0.1:9' }) };
  try {
    for (const name of ['raw', 'ours'] as const) {
      await round(clients[name], 1, name);
    }
    const run = await alternate(clients, 1, 8, () => undefined);
    const cpu = (n: Name) => medianOf(run.results[n].map(r => r.cpuMicros / r.ops));
    const result = { rawCpuPerOp: cpu('raw'), oursCpuPerOp: cpu('ours') };
    console.log('');
    console.log('Part 2: client layers only (network stubbed), median CPU per op over 8 pairs of 1 s rounds');
    console.log(
      `raw ${result.rawCpuPerOp.toFixed(2)} µs/op, ours ${result.oursCpuPerOp.toFixed(2)} µs/op, ` +
        `difference ${(result.oursCpuPerOp - result.rawCpuPerOp).toFixed(2)} µs/op`,
    );
    return result;
  } finally {
    await Promise.allSettled([clients.raw.close(), clients.ours.close()]);
    proto.getServiceClient = original;
  }
}

async function main(): Promise<void> {
  const e2e = await endToEnd();
  const layers = await layersOnly();
  // Judged on the median of the pairs: each pair ran back to back under about the same
  // machine load, so one pair disturbed by another process cannot decide the outcome.
  const met = e2e.median.throughput >= 0.95 && e2e.median.p99 <= 1.1;
  console.log('');
  console.log(`targets (median of pairs: throughput >= 0.95, p99 <= 1.1): ${met ? 'met' : 'MISSED'}`);
  if (process.env.BENCH_JSON === '1') {
    console.log(JSON.stringify({ workers: WORKERS, seconds: SECONDS, pairs: ROUNDS, ...e2e, layers }));
  }
}

main().catch(err => {
  console.error(err);
  process.exitCode = 1;
});
