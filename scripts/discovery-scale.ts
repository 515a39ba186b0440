/**
 * Discovery at scale, measured against a real, local etcd (started here):
 *
 * 1. one service with 10,000 instances: time until `discover().ready`, and heap used;
 * 2. 1,000 services discovered from one process: Watch streams and watchers as etcd
 *    itself counts them (its /metrics), time until every watch is created, heap used,
 *    and the delay of one change to reach its discovery.
 *
 * Run: `npx tsx scripts/discovery-scale.ts`. Heap numbers are taken after a full GC.
 * The functions are also used by
 * integration/discovery/scale.test.ts.
 */
import { etcdMetric } from '../lib/testing/etcd-metrics';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Namespace } from 'etcd3';
import { createClient, type Etcd3 } from '../lib/client';
import { discover, type Discovery } from '../lib/discovery/discovery';
import { poolOf } from '../lib/internals/etcd3';
import { watchHubStats } from '../lib/watch/hub-registry';
import { goNamingCodec } from '../lib/service-record';
import { startEtcd } from '../lib/testing';

/** Keys written per transaction (etcd's default --max-txn-ops is 128). */
const TXN_OPS = 100;

/** Writes `count` Go-format records for `service` in transactions of {@link TXN_OPS} puts. */
export async function writeInstances(
  client: Namespace,
  service: string,
  count: number,
  metadata: unknown = null,
): Promise<void> {
  for (let start = 0; start < count; start += TXN_OPS) {
    const success = [];
    for (let i = start; i < Math.min(count, start + TXN_OPS); i++) {
      const addr = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`;
      success.push({
        request_put: {
          key: Buffer.from(`${service}/i${i}`),
          value: Buffer.from(goNamingCodec.encode({ service, id: `i${i}`, addr, metadata })),
        },
      });
    }
    await (client as any).kv.txn({ compare: [], success, failure: [] });
  }
}

let gc: (() => void) | undefined;

/** Heap used, in MiB, after a full GC (exposed at run time if `--expose-gc` was not given). */
export function heapMiB(): number {
  if (!gc) {
    gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** Result of {@link measureLargeService}. */
export interface LargeServiceResult {
  instances: number;
  readyMs: number;
  heapMiB: number;
}

/** Discovers `service` (already written) and measures it; the discovery is closed afterwards. */
export async function measureLargeService(
  client: Etcd3,
  service: string,
): Promise<LargeServiceResult> {
  const before = heapMiB();
  const t0 = performance.now();
  const d = discover(client, service);
  await d.ready;
  const readyMs = performance.now() - t0;
  const after = heapMiB();
  const instances = d.snapshot().length;
  await d.close();
  return { instances, readyMs, heapMiB: after - before };
}

/** Result of {@link measureManyServices}. */
export interface ManyServicesResult {
  services: number;
  /** Watch streams open in etcd while all discoveries run (etcd_debugging_mvcc_watch_stream_total delta). */
  streams: number;
  /** Watch streams etcd saw opened during the run (more than 1 only if a stream had to be re-opened). */
  streamsOpened: number;
  /** Stream failures the hub saw (re-opens). */
  streamFailures: number;
  /** Watchers etcd holds at the end (etcd_debugging_mvcc_watcher_total delta). */
  watchers: number;
  readyMs: number;
  allWatchingMs: number;
  heapMiB: number;
  /** Time from a put to its `onAdded` in one of the discoveries. */
  changeLatencyMs: number;
}

/** Discovers `count` services (one instance each) from one client; closes them afterwards. */
export async function measureManyServices(
  client: Etcd3,
  endpoint: string,
  count: number,
): Promise<ManyServicesResult> {
  const watchStreams = () =>
    etcdMetric(
      endpoint,
      'grpc_server_started_total',
      'grpc_method="Watch",grpc_service="etcdserverpb.Watch"',
    );
  const watchers = () => etcdMetric(endpoint, 'etcd_debugging_mvcc_watcher_total');
  const openStreams = () => etcdMetric(endpoint, 'etcd_debugging_mvcc_watch_stream_total');
  const streams0 = await watchStreams();
  const open0 = await openStreams();
  const failures0 = watchHubStats(poolOf(client)).failures;
  const watchers0 = await watchers();
  const before = heapMiB();
  const t0 = performance.now();
  const ds: Discovery[] = [];
  for (let i = 0; i < count; i++) {
    ds.push(discover(client, `many${i}`));
  }
  await Promise.all(ds.map(d => d.ready));
  const readyMs = performance.now() - t0;
  let allWatchingMs = NaN;
  for (let i = 0; i < 600; i++) {
    if ((await watchers()) - watchers0 >= count) {
      allWatchingMs = performance.now() - t0;
      break;
    }
    await new Promise(r => setTimeout(r, 50));
  }
  const heap = heapMiB() - before;
  const target = ds[Math.floor(count / 2)]!;
  const added = new Promise<number>(resolve => target.onAdded(() => resolve(performance.now())));
  const tPut = performance.now();
  await client
    .put(`many${Math.floor(count / 2)}/late`)
    .value(goNamingCodec.encode({ service: 'x', id: 'late', addr: '10.1.1.1:1', metadata: null }));
  const changeLatencyMs = (await added) - tPut;
  const result: ManyServicesResult = {
    services: count,
    streams: (await openStreams()) - open0,
    streamsOpened: (await watchStreams()) - streams0,
    streamFailures: watchHubStats(poolOf(client)).failures - failures0,
    watchers: (await watchers()) - watchers0,
    readyMs,
    allWatchingMs,
    heapMiB: heap,
    changeLatencyMs,
  };
  await Promise.all(ds.map(d => d.close()));
  return result;
}

async function main(): Promise<void> {
  const cluster = await startEtcd({ members: 1 });
  const client = createClient({ hosts: cluster.endpoints });
  try {
    console.log(`etcd ${cluster.endpoints[0]}, node ${process.version}`);
    const tw = performance.now();
    await writeInstances(client, 'big', 10_000);
    console.log(`wrote 10000 instances in ${(performance.now() - tw).toFixed(0)} ms`);
    for (let run = 1; run <= 3; run++) {
      const r = await measureLargeService(client, 'big');
      console.log(
        `10,000 instances, run ${run}: ready in ${r.readyMs.toFixed(0)} ms, ${r.instances} instances, heap +${r.heapMiB.toFixed(1)} MiB`,
      );
    }
    const m = await measureManyServices(client, cluster.endpoints[0]!, 1000);
    console.log(
      `1,000 services: ${m.streams} Watch stream(s) open in etcd (${m.streamsOpened} opened, ${m.streamFailures} re-opens), ${m.watchers} watchers; ` +
        `all listed in ${m.readyMs.toFixed(0)} ms, all watching in ${m.allWatchingMs.toFixed(0)} ms; ` +
        `heap +${m.heapMiB.toFixed(1)} MiB (${((m.heapMiB * 1024) / m.services).toFixed(1)} KiB per discovery); ` +
        `change delivered in ${m.changeLatencyMs.toFixed(1)} ms`,
    );
  } finally {
    await client.close();
    await cluster.stop();
  }
}

if (require.main === module) {
  main().catch(err => {
    console.error(err);
    process.exitCode = 1;
  });
}
