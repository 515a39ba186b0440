/**
 * Helpers of the tail-latency tests (issue 12): an open-loop load (calls started on a
 * timer, not after the previous one ends, as a busy service issues them), per-call
 * records, and the numbers each test prints as a `[measure]` line.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { memberStatus } from '../../lib/testing/etcd-http';
import type { EtcdCluster, EtcdMember } from '../../lib/testing';

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** One call of the load. Times are `Date.now()`. */
export interface TailRecord {
  readonly op: 'get' | 'put';
  readonly start: number;
  end?: number;
  ok?: boolean;
  error?: unknown;
}

export interface TailLoad {
  readonly records: TailRecord[];
  /** Stops issuing calls and waits (at most `settleMs`) for those in flight. */
  stop(settleMs?: number): Promise<void>;
}

/**
 * Starts one call every `intervalMs`, alternating `get(readKey)` and a put of a new
 * key under `prefix`, without waiting for earlier calls.
 */
export function startTailLoad(
  client: Etcd3,
  options: { prefix: string; readKey: string; intervalMs?: number; ops?: 'both' | 'get' },
): TailLoad {
  const records: TailRecord[] = [];
  let n = 0;
  const tick = () => {
    const i = n++;
    const op = options.ops === 'get' || i % 2 === 0 ? 'get' : 'put';
    const rec: TailRecord = { op, start: Date.now() };
    records.push(rec);
    const p =
      op === 'get'
        ? client.get(options.readKey).string()
        : client.put(`${options.prefix}${i}`).value(String(i)).exec();
    p.then(
      () => Object.assign(rec, { end: Date.now(), ok: true }),
      error => Object.assign(rec, { end: Date.now(), ok: false, error }),
    );
  };
  const timer = setInterval(tick, options.intervalMs ?? 100);
  tick();
  return {
    records,
    async stop(settleMs = 8000) {
      clearInterval(timer);
      const by = Date.now() + settleMs;
      while (records.some(r => r.end === undefined) && Date.now() < by) {
        await sleep(50);
      }
    },
  };
}

export const durationOf = (r: TailRecord) => (r.end ?? Infinity) - r.start;

/** Summary of `records` for the `[measure]` line. */
export function summarize(records: readonly TailRecord[]) {
  const of = (op: 'get' | 'put') => records.filter(r => r.op === op);
  const longest = (rs: readonly TailRecord[]) => Math.max(0, ...rs.map(durationOf));
  const failed = (rs: readonly TailRecord[]) => rs.filter(r => r.ok !== true);
  return {
    calls: records.length,
    failed: failed(records).length,
    readsFailed: failed(of('get')).length,
    writesFailed: failed(of('put')).length,
    longestReadMs: longest(of('get')),
    longestWriteMs: longest(of('put')),
    errors: [
      ...new Set(
        failed(records).map(r => String((r.error as Error)?.message ?? r.error).slice(0, 100)),
      ),
    ].slice(0, 3),
  };
}

export function measure(label: string, values: Record<string, unknown>): void {
  console.log(`[measure] ${label}: ${JSON.stringify(values)}`);
}

/**
 * Polls the members other than `exclude` until one of them reports a leader that is
 * not `exclude`; resolves with `Date.now()` of that moment (within `everyMs`).
 */
export async function newLeaderAt(
  cluster: EtcdCluster,
  exclude: EtcdMember,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<number> {
  const others = cluster.members.filter(m => m !== exclude);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const statuses = await Promise.all(
      others.map(m => memberStatus(m.clientUrl, undefined, 300).catch(() => undefined)),
    );
    const ids = new Set(statuses.flatMap(s => (s ? [s.memberId] : [])).map(id => String(id)));
    if (statuses.some(s => s && String(s.leaderId) !== '0' && ids.has(String(s.leaderId)))) {
      return Date.now();
    }
    await sleep(everyMs);
  }
  throw new Error(`no new leader within ${timeoutMs} ms`);
}

/** Latency budget of the tail tests: what the client may add, ms. */
export const TAIL_BUDGET_MS = 300;

/**
 * Starts watching this process's event loop; the returned function stops and gives the
 * longest stall seen, ms. A stall is time the test process could not run at all (a
 * loaded 2-core CI machine running etcd members beside it): the client cannot answer
 * faster than it is scheduled, so latency budgets add it, and the measure line prints it.
 */
export function watchLoopStalls(): () => number {
  const resolutionMs = 10;
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return () => {
    h.disable();
    return Math.max(0, Math.round(h.max / 1e6 - resolutionMs));
  };
}
