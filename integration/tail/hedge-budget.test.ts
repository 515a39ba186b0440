/**
 * Issue 12, the hedging budget: when every endpoint turns slow at once (an overloaded
 * cluster, a slow network), nearly every read is slower than its endpoint's recent
 * 95th percentile, so nearly every read would be hedged. The budget caps the extra
 * requests at 10 % of calls (plus 5 per 10 s window). Extra requests are counted
 * where they land: etcd's own `grpc_server_started_total` for `Range`, summed over
 * the three members, minus the reads the application made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import {
  etcdMetric,
  startEtcd,
  startProxy,
  type EtcdCluster,
  type FaultProxy,
} from '../../lib/testing';
import { measure, sleep, startTailLoad, summarize } from './helpers';

const RANGES = 'grpc_server_started_total';
const RANGE_LABEL = 'grpc_method="Range"';

describe('hedging budget', () => {
  let cluster: EtcdCluster;
  let proxies: FaultProxy[];
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    proxies = await Promise.all(cluster.endpoints.map(e => startProxy({ target: e })));
    client = createClient({ hosts: proxies.map(p => p.endpoint) });
    await client.put('tail/budget/r').value('v');
  });
  afterAll(async () => {
    await client?.close();
    await Promise.all((proxies ?? []).map(p => p.close()));
    await cluster?.stop();
  });

  const ranges = async () =>
    (await Promise.all(cluster.endpoints.map(e => etcdMetric(e, RANGES, RANGE_LABEL)))).reduce(
      (a, b) => a + b,
      0,
    );

  /** Reads only, one every 20 ms (open loop). */
  const READS_EVERY_20_MS = {
    prefix: '',
    readKey: 'tail/budget/r',
    intervalMs: 20,
    ops: 'get',
  } as const;

  it('every endpoint slow: extra requests stay within 10 % + 5 per 10 s window', async () => {
    // Fast first: every endpoint's recent round trips are a few ms.
    const warm = startTailLoad(client, READS_EVERY_20_MS);
    await sleep(3000);
    await warm.stop();
    await sleep(11_000); // a fresh budget window: the warm-up's calls and hedges are gone
    const before = await ranges();
    for (const p of proxies) p.delay(150); // round trips of 300 ms everywhere
    const load = startTailLoad(client, READS_EVERY_20_MS);
    await sleep(8000);
    await load.stop(5000);
    for (const p of proxies) p.pass();
    const reads = load.records.length;
    const extra = (await ranges()) - before - reads;
    const s = summarize(load.records);
    const budget = 0.1 * reads + 5;
    measure('hedging budget, every endpoint +300 ms', {
      reads,
      extraRequests: extra,
      budget,
      extraShare: +(extra / reads).toFixed(3),
      failed: s.failed,
      longestReadMs: s.longestReadMs,
    });
    expect(s.failed).toBe(0);
    expect(extra).toBeGreaterThan(0); // it did hedge
    expect(extra).toBeLessThanOrEqual(budget);
  }, 60_000);
});
