/**
 * `npm run bench`: raw `etcd3` against our `createClient`, side by side.
 *
 * Each client runs in its own child process (forked from this script), as it would in
 * a service: in one process the two would share V8's inline caches and heap, and each
 * would slow the other down in ways no single-client application sees. The parent
 * starts etcd, then asks the two processes for rounds in turn.
 *
 * Part 1, end to end, on one local single-node etcd (started with lib/testing, stopped
 * at the end). In a round, a client process runs `BENCH_WORKERS` concurrent workers
 * (default 64), each doing puts and gets 50/50 on its own small set of keys, for
 * `BENCH_SECONDS` (default 2). Rounds alternate raw, ours, ours, raw, ...
 * (`BENCH_ROUNDS` pairs, default 12, at least 3) after a warm-up round each, so that
 * drift in the machine's load hits both clients alike. Printed per round: throughput
 * (ops/s), p50 and p99 latency (ms), CPU time per op (µs) of the client process and of
 * etcd (from /proc). Then the ratios ours/raw: pooled over all rounds, and the median
 * of the back-to-back pairs (robust to one pair being disturbed by another process).
 * Targets, on the median of pairs (issue 12): throughput >= 0.98, p99 <= 1.05.
 *
 * Part 2, the client layers' own CPU cost: the same workload with the network taken
 * out (etcd3's `Host.getServiceClient` answers from memory on the next turn of the
 * event loop): etcd3's builders plus, for ours, our pool (options, call kind, retry and
 * breaker policies, endpoint order, readiness check, auth metadata). It cannot see
 * grpc-js's own cost of the per-attempt deadline we set.
 *
 * Our client is measured as users run it: lib/ is compiled with tsc (to
 * .tmp/bench-dist) and loaded from there; under tsx it costs a few µs more per op
 * (BENCH_SOURCE=1 does that anyway). etcd's data dir goes to /dev/shm when it exists
 * (BENCH_DISK=1 keeps the default temp dir): on a real disk every put waits for an
 * fsync, which hides the client's cost and adds noise unrelated to the client.
 *
 * Env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_WORKERS, BENCH_WARMUP_SECONDS (default 2),
 * BENCH_DISK=1, BENCH_SOURCE=1, BENCH_JSON=1 (prints a JSON summary as the last line).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connectivityState } from '@grpc/grpc-js';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { Host } from '../lib/internals/etcd3';
import { startEtcd } from '../lib/testing';
import {
  summarize,
  ratiosOf,
  medianRatios,
  medianOf,
  fmt,
  fmtRatios,
  type RoundResult,
} from './bench-stats';

type Name = 'raw' | 'ours';

/** What a client process is told to run. */
interface WorkerSpec {
  client: Name;
  hosts: string[];
  /** Answer every call from memory instead of the network (part 2). */
  stub: boolean;
  /** Module exporting our `createClient`. */
  clientModule: string;
}

type ToWorker = { type: 'round'; seconds: number; label: string } | { type: 'close' };
type FromWorker = { type: 'ready' } | { type: 'round'; result: RoundResult };

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
/** Longest a client process may take to start, or to answer one round beyond its length. */
const WORKER_TIMEOUT_MS = 60_000;
/** Linux clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on mainstream kernels). */
const USER_HZ = 100;

// ---------------------------------------------------------------- client process side

/** One round in this process: WORKERS concurrent loops of put/get for `seconds`. */
async function round(
  client: Pick<RawEtcd3, 'get' | 'put'>,
  seconds: number,
  label: string,
): Promise<RoundResult> {
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
  const used = process.cpuUsage(cpu);
  return {
    ops: latencies.length,
    errors,
    seconds: (performance.now() - start) / 1000,
    cpuMicros: used.user + used.system,
    serverCpuMicros: NaN,
    latencies,
  };
}

/** Replaces etcd3's gRPC clients with one that answers from memory (part 2). */
function installStub(): void {
  const channel = {
    getConnectivityState: () => connectivityState.READY,
    watchConnectivityState: () => undefined,
    close: () => undefined,
  };
  type Callback = (err: null, res: unknown) => void;
  const answer = (res: unknown) => (_p: unknown, _m: unknown, _o: unknown, cb: Callback) =>
    setImmediate(cb, null, res);
  const stub = {
    range: answer({ header: {}, kvs: [], count: '0', more: false }),
    put: answer({ header: {} }),
    getChannel: () => channel,
    close: () => undefined,
  };
  (Host.prototype as unknown as { getServiceClient: unknown }).getServiceClient = () => stub;
}

async function clientProcess(spec: WorkerSpec): Promise<void> {
  if (spec.stub) {
    installStub();
  }
  const client =
    spec.client === 'raw'
      ? new RawEtcd3({ hosts: spec.hosts })
      : (require(spec.clientModule).createClient({ hosts: spec.hosts }) as RawEtcd3);
  const send = (m: FromWorker) => process.send!(m);
  process.on('disconnect', () => process.exit(0)); // the parent went away
  process.on('message', (m: ToWorker) => {
    if (m.type === 'round') {
      round(client, m.seconds, m.label).then(result => send({ type: 'round', result }));
    } else {
      Promise.resolve(client.close()).finally(() => process.exit(0));
    }
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- parent side

/** A forked client process. */
class ClientProcess {
  private constructor(private readonly child: ChildProcess) {}

  static start(spec: WorkerSpec): Promise<ClientProcess> {
    const child = fork(__filename, [], {
      env: { ...process.env, BENCH_CLIENT_SPEC: JSON.stringify(spec) },
      execArgv: process.execArgv, // keeps tsx's loader
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${spec.client} process did not start`)),
        WORKER_TIMEOUT_MS,
      );
      child.once('error', reject);
      child.once('exit', code => reject(new Error(`${spec.client} process exited with ${code}`)));
      child.once('message', (m: FromWorker) => {
        clearTimeout(timer);
        if (m.type === 'ready') {
          resolve(new ClientProcess(child));
        }
      });
    });
  }

  round(seconds: number, label: string, serverPid?: number): Promise<RoundResult> {
    const serverCpu = processCpuMicros(serverPid);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('round timed out')),
        seconds * 1000 + WORKER_TIMEOUT_MS,
      );
      this.child.once('message', (m: FromWorker) => {
        clearTimeout(timer);
        if (m.type === 'round') {
          resolve({ ...m.result, serverCpuMicros: processCpuMicros(serverPid) - serverCpu });
        }
      });
      this.child.send({ type: 'round', seconds, label } satisfies ToWorker);
    });
  }

  close(): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL'); // our own child, by handle
        resolve();
      }, 5000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.send({ type: 'close' } satisfies ToWorker);
    });
  }
}

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

/** Compiles lib/ with tsc; returns the module to load our `createClient` from (see the header). */
function buildClientModule(): string {
  const root = path.resolve(__dirname, '..');
  if (process.env.BENCH_SOURCE === '1') {
    return path.join(root, 'lib', 'client.ts');
  }
  const outDir = path.join(root, '.tmp', 'bench-dist');
  execFileSync(
    process.execPath,
    [
      require.resolve('typescript/bin/tsc'),
      '-p',
      path.join(root, 'tsconfig.build.json'),
      '--outDir',
      outDir,
    ],
    { stdio: 'inherit', timeout: 120_000 },
  );
  return path.join(outDir, 'lib', 'client.js');
}

/** Runs alternating rounds of both client processes. */
async function alternate(
  clients: Record<Name, ClientProcess>,
  seconds: number,
  pairs: number,
  serverPid: number | undefined,
  log: (line: string) => void,
) {
  const results: Record<Name, RoundResult[]> = { raw: [], ours: [] };
  for (let i = 0; i < pairs; i++) {
    // Alternate which client goes first, so neither always follows the other.
    const order: Name[] = i % 2 === 0 ? ['raw', 'ours'] : ['ours', 'raw'];
    for (const name of order) {
      const r = await clients[name].round(seconds, name, serverPid);
      results[name].push(r);
      log(`round ${String(i + 1).padStart(2)} ${name.padEnd(4)} ${fmt(summarize([r]))}`);
    }
  }
  const pairRatios = results.raw.map((r, i) =>
    ratiosOf(summarize([r]), summarize([results.ours[i]])),
  );
  return { results, pairs: pairRatios };
}

async function startClients(
  spec: Omit<WorkerSpec, 'client'>,
): Promise<Record<Name, ClientProcess>> {
  const [raw, ours] = await Promise.all([
    ClientProcess.start({ ...spec, client: 'raw' }),
    ClientProcess.start({ ...spec, client: 'ours' }),
  ]);
  return { raw, ours };
}

/** Part 1: both clients against one real etcd. */
async function endToEnd(clientModule: string) {
  const tmpfs = process.env.BENCH_DISK !== '1' && existsSync('/dev/shm');
  const savedTmp = process.env.TMPDIR;
  if (tmpfs) {
    process.env.TMPDIR = '/dev/shm'; // os.tmpdir() is read when the data dir is made
  }
  const cluster = await startEtcd({ members: 1 }).finally(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });
  const serverPid = cluster.members[0].pid;
  let clients: Record<Name, ClientProcess> | undefined;
  try {
    clients = await startClients({ hosts: cluster.endpoints, stub: false, clientModule });
    const loadBefore = os.loadavg()[0];
    console.log(
      `Part 1: etcd ${cluster.endpoints[0]} (data on ${tmpfs ? 'tmpfs' : 'disk'}), each client in its own process, ` +
        `ours ${process.env.BENCH_SOURCE === '1' ? 'from source (tsx)' : 'compiled'}; ${WORKERS} workers, ` +
        `50/50 put/get, ${SECONDS} s rounds, ${ROUNDS} pairs (alternating), ${WARMUP_SECONDS} s warm-up each`,
    );
    if (WARMUP_SECONDS > 0) {
      for (const name of ['raw', 'ours'] as const) {
        console.log(
          `warm-up  ${name.padEnd(4)} ${fmt(summarize([await clients[name].round(WARMUP_SECONDS, name, serverPid)]))}`,
        );
      }
    }
    const run = await alternate(clients, SECONDS, ROUNDS, serverPid, line => console.log(line));
    const raw = summarize(run.results.raw);
    const ours = summarize(run.results.ours);
    const result = { raw, ours, pooled: ratiosOf(raw, ours), median: medianRatios(run.pairs) };
    console.log('');
    console.log(
      `load average (1 min) before ${loadBefore.toFixed(2)}, after ${os.loadavg()[0].toFixed(2)}, cores ${os.cpus().length}`,
    );
    console.log(`raw   ${fmt(raw)}`);
    console.log(`ours  ${fmt(ours)}`);
    console.log(`ours/raw pooled over all rounds: ${fmtRatios(result.pooled)}`);
    console.log(`ours/raw median of round pairs:  ${fmtRatios(result.median)}`);
    return result;
  } finally {
    await Promise.allSettled(Object.values(clients ?? {}).map(c => c.close()));
    await cluster.stop();
  }
}

/** Part 2: the same workload with the network stubbed out; CPU µs per op of each client. */
async function layersOnly(clientModule: string) {
  // Hosts that are never dialled: every call is answered by the stub.
  const clients = await startClients({ hosts: ['127.0.0.1:9'], stub: true, clientModule });
  try {
    for (const name of ['raw', 'ours'] as const) {
      await clients[name].round(1, name);
    }
    const run = await alternate(clients, 1, 8, undefined, () => undefined);
    const cpu = (n: Name) => medianOf(run.results[n].map(r => r.cpuMicros / r.ops));
    const result = { rawCpuPerOp: cpu('raw'), oursCpuPerOp: cpu('ours') };
    console.log('');
    console.log(
      'Part 2: client layers only (network stubbed), median CPU per op over 8 pairs of 1 s rounds',
    );
    console.log(
      `raw ${result.rawCpuPerOp.toFixed(2)} µs/op, ours ${result.oursCpuPerOp.toFixed(2)} µs/op, ` +
        `difference ${(result.oursCpuPerOp - result.rawCpuPerOp).toFixed(2)} µs/op`,
    );
    return result;
  } finally {
    await Promise.allSettled(Object.values(clients).map(c => c.close()));
  }
}

async function main(): Promise<void> {
  const clientModule = buildClientModule();
  const e2e = await endToEnd(clientModule);
  const layers = await layersOnly(clientModule);
  // Judged on the median of the pairs: each pair ran back to back under about the same
  // machine load, so one pair disturbed by another process cannot decide the outcome.
  const met = e2e.median.throughput >= 0.98 && e2e.median.p99 <= 1.05;
  console.log('');
  console.log(
    `targets (median of pairs: throughput >= 0.98, p99 <= 1.05): ${met ? 'met' : 'MISSED'}`,
  );
  if (process.env.BENCH_JSON === '1') {
    console.log(
      JSON.stringify({ workers: WORKERS, seconds: SECONDS, pairs: ROUNDS, ...e2e, layers }),
    );
  }
}

const spec = process.env.BENCH_CLIENT_SPEC;
(spec ? clientProcess(JSON.parse(spec) as WorkerSpec) : main()).catch(err => {
  console.error(err);
  process.exitCode = 1;
});
