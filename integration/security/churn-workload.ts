/**
 * The churn workload shared by `churn.test.ts` (a bounded run in `npm test`) and
 * `scripts/soak.ts` (as long as asked): while etcd members of a 3-member cluster
 * are killed, frozen and restarted in turn, workers keep creating, using and
 * closing clients, watches, leases, registrations and discoveries. Everything a
 * worker opens it closes, so at the end the process must be back at its
 * baseline of file descriptors, sockets, timers and heap.
 */
import { Etcd3 } from '../../lib/client';
import { discover } from '../../lib/discovery/discovery';
import { register } from '../../lib/registry/register';
import type { EtcdCluster } from '../../lib/testing';
import { isTypedError } from './typed-errors';

/** Counters of a churn run. */
export interface ChurnStats {
  /** Client lifecycles completed (created, used, closed). */
  cycles: number;
  /** Calls that succeeded / failed with a typed error. */
  ok: number;
  typedErrors: number;
  /** Errors that were not typed (TypeError...): must stay 0. Their messages, first 20. */
  untyped: string[];
  /** Faults injected, by kind. */
  faults: Record<'kill' | 'freeze' | 'stop', number>;
}

/** Options of {@link runChurn}. */
export interface ChurnOptions {
  /** How long to churn, ms. */
  durationMs: number;
  /** Concurrent workers, each running client lifecycles back to back. Defaults to 3. */
  workers?: number;
  /** Upper bound on lifecycles per worker (a safety net on top of `durationMs`). Defaults to 10000. */
  maxCyclesPerWorker?: number;
  /** Called after each fault, for progress output. */
  onFault?(kind: string, member: string, stats: ChurnStats): void;
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** Settles `p` within `ms`, never throwing; records the outcome in `stats`. */
async function settle(
  p: { then(onOk: (v: any) => any, onErr?: (e: any) => any): any },
  ms: number,
  stats: ChurnStats,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>(
    resolve => (timer = setTimeout(() => resolve('timeout'), ms)),
  );
  try {
    const r = await Promise.race([
      new Promise((resolve, reject) => p.then(resolve, reject)).then(() => 'ok' as const),
      timeout,
    ]);
    if (r === 'ok') stats.ok++;
    return r === 'ok';
  } catch (err) {
    record(err, stats);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function record(err: unknown, stats: ChurnStats): void {
  if (isTypedError(err)) {
    stats.typedErrors++;
  } else if (stats.untyped.length < 20) {
    stats.untyped.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  } else {
    stats.untyped.push('…');
  }
}

/** One client lifecycle: everything opened here is closed before it returns. */
async function lifecycle(
  cluster: EtcdCluster,
  worker: number,
  n: number,
  stats: ChurnStats,
): Promise<void> {
  const client = new Etcd3({
    hosts: cluster.endpoints,
    callTimeoutMs: 2000,
    connectTimeoutMs: 1000,
  });
  const key = `churn/w${worker}/${n}`;
  const watcher = client.watch().prefix(`churn/w${worker}/`).watcher();
  watcher.on('error', err => record(err, stats));
  const lease = client.lease(3, { autoKeepAlive: true });
  lease.on('lost', () => undefined); // expected while members are down
  const reg = register(client, {
    service: 'churn',
    id: `w${worker}-${n}`,
    addr: `10.1.${worker}.${n % 250}:80`,
    ttlSeconds: 3,
    lease: { closeTimeoutMs: 500, callTimeoutMs: 1000 },
  });
  const disc = discover(client, 'churn', { retryMaxDelayMs: 500 });
  disc.onInvalidRecord(r => record(r.error, stats));
  try {
    await settle(lease.put(`${key}/leased`).value('x'), 3000, stats);
    for (let i = 0; i < 4; i++) {
      await settle(client.put(key).value(String(i)), 3000, stats);
      await settle(client.get(key).string(), 3000, stats);
    }
    await settle(client.getAll().prefix('churn/').limit(50).keys(), 3000, stats);
    await settle(disc.ready, 2000, stats);
  } finally {
    await Promise.all([reg.close(), disc.close(), settle(watcher.cancel(), 2000, stats)]);
    await settle(lease.revoke(), 2000, stats);
    await client.close();
    stats.cycles++;
  }
}

/** Kills, freezes or stops one member at a time (quorum is kept), then brings it back. */
async function faults(
  cluster: EtcdCluster,
  end: number,
  stats: ChurnStats,
  opts: ChurnOptions,
): Promise<void> {
  const kinds = ['kill', 'freeze', 'stop'] as const;
  for (let i = 0; Date.now() < end && i < 10_000; i++) {
    await sleep(Math.min(2000, Math.max(0, end - Date.now())));
    if (Date.now() >= end) break;
    const member = cluster.member(i % cluster.members.length);
    const kind = kinds[i % kinds.length]!;
    stats.faults[kind]++;
    if (kind === 'freeze') {
      member.freeze();
      await sleep(2500);
      member.thaw();
    } else {
      await (kind === 'kill' ? member.kill('SIGKILL') : member.stop());
      await sleep(1000);
      await member.restart();
    }
    opts.onFault?.(kind, member.name, stats);
  }
}

/** Counters at zero, to add runs into. */
export function zeroChurnStats(): ChurnStats {
  return { cycles: 0, ok: 0, typedErrors: 0, untyped: [], faults: { kill: 0, freeze: 0, stop: 0 } };
}

/**
 * Runs the churn for `durationMs` and resolves with its counters once every
 * worker has closed everything and every member is running again.
 */
export async function runChurn(cluster: EtcdCluster, opts: ChurnOptions): Promise<ChurnStats> {
  const stats = zeroChurnStats();
  const end = Date.now() + opts.durationMs;
  const workers = Array.from({ length: opts.workers ?? 3 }, async (_, w) => {
    const max = opts.maxCyclesPerWorker ?? 10_000;
    for (let n = 0; Date.now() < end && n < max; n++) {
      await lifecycle(cluster, w, n, stats);
    }
  });
  await Promise.all([faults(cluster, end, stats, opts), ...workers]);
  for (const m of cluster.members) {
    if (!m.running) await m.restart();
  }
  return stats;
}
