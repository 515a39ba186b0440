/**
 * Discovery against real etcd and real faults: records written by another tool
 * (etcdctl, in Go's naming format), compaction past the watch revision while the
 * client is cut off, a silently stalled watch stream, and a member that loses its
 * leader (require-leader).
 */
import { Etcd3 as PlainEtcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { discover, type Discovery } from '../../lib/discovery/discovery';
import { poolOf } from '../../lib/internals/etcd3';
import { watchHubFor, watchHubStats } from '../../lib/watch/hub-registry';
import { noopLogger } from '../../lib/logger';
import {
  etcdctl,
  startEtcd,
  startProxy,
  type EtcdCluster,
  type FaultProxy,
} from '../../lib/testing';
import { recordChanges, replay } from '../../test/discovery/helpers';
import { discovered, etcdInstances, goRecord, sleep, waitFor } from './helpers';

const closers: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
async function cluster(members: number): Promise<EtcdCluster> {
  const c = await startEtcd({ members });
  closers.push(() => c.stop());
  return c;
}
function track<T extends { close(): unknown }>(x: T): T {
  closers.push(() => x.close());
  return x;
}
const asSorted = (m: Map<string, string>) => [...m].map(([id, addr]) => `${id}=${addr}`).sort();

describe('discovery faults', () => {
  it('discovers Go-format records written by etcdctl, skips malformed ones, follows etcdctl deletes', async () => {
    const c = await cluster(1);
    const ctl = async (...args: string[]) =>
      expect((await etcdctl(c.endpoints, args)).code).toBe(0);
    await ctl(
      'put',
      'services/orders/go-1',
      '{"Op":0,"Addr":"10.0.0.1:8080","Metadata":{"version":"1.2.3"}}',
    );
    await ctl('put', 'services/orders/broken', '{"Op":0,"Addr":');
    const client = track(createClient({ hosts: c.endpoints }));
    const d = track(discover(client, 'orders', { prefix: 'services/' }));
    const invalid: string[] = [];
    d.onInvalidRecord(r => invalid.push(r.key));
    const changes = recordChanges(d);
    await d.ready;
    expect(d.snapshot()).toEqual([
      { service: 'orders', id: 'go-1', addr: '10.0.0.1:8080', metadata: { version: '1.2.3' } },
    ]);
    expect(invalid).toEqual(['services/orders/broken']);
    await sleep(200); // let the watch attach (it starts from the listing revision anyway)
    await ctl('put', 'services/orders/[::1]:9090', '{"Op":0,"Addr":"[::1]:9090","Metadata":null}');
    await ctl('put', 'services/orders/broken', '{"Op":0,"Addr":"10.0.0.2:8080"}');
    // Go's resolver ignores Op on stored values: still an instance (metadata gone).
    await ctl('put', 'services/orders/go-1', '{"Op":1,"Addr":"10.0.0.1:8080"}');
    await ctl('del', 'services/orders/[::1]:9090');
    await waitFor(() => changes.length === 5, 10_000, 'five changes');
    expect(changes).toEqual([
      'added:go-1=10.0.0.1:8080',
      'added:[::1]:9090=[::1]:9090',
      'added:broken=10.0.0.2:8080',
      'updated:go-1=10.0.0.1:8080',
      'removed:[::1]:9090=[::1]:9090',
    ]);
    expect(invalid).toEqual(['services/orders/broken']);
    expect(discovered(d)).toEqual(['broken=10.0.0.2:8080', 'go-1=10.0.0.1:8080']);
  });

  it('converges by re-listing when the watch revision was compacted while the client was cut off', async () => {
    const c = await cluster(1);
    const proxy: FaultProxy = track(await startProxy({ target: c.endpoints[0]! }));
    const writer = track(createClient({ hosts: c.endpoints }));
    const reader = track(createClient({ hosts: proxy.endpoint }));
    for (const id of ['a', 'b'])
      await writer.put(`svc/${id}`).value(goRecord(`10.0.0.1:${id === 'a' ? 1 : 2}`));
    const d: Discovery = track(discover(reader, 'svc'));
    const changes = recordChanges(d);
    const resyncs: string[] = [];
    d.onResync(e => resyncs.push(e.reason));
    await d.ready;
    await waitFor(
      async () =>
        watchHubStats(poolOf(reader)).watches === 1 &&
        (await etcdctl(c.endpoints, ['endpoint', 'status'])).code === 0,
      5000,
      'watch attached',
    );
    await sleep(300);
    const failures0 = watchHubStats(poolOf(reader)).failures;
    proxy.refuse(true); // no new connection gets through
    proxy.reset(); // and the current ones die
    await waitFor(
      () => watchHubStats(poolOf(reader)).failures > failures0,
      10_000,
      'the watch stream to notice',
    );
    await writer.put('svc/a').value(goRecord('10.0.0.1:7')); // updated
    await writer.put('svc/tmp').value(goRecord('10.0.0.1:5')); // added and removed within the gap
    await writer.delete().key('svc/tmp');
    await writer.delete().key('svc/b'); // removed
    await writer.put('svc/c').value(goRecord('10.0.0.1:3')); // added
    const rev = Number((await writer.get('svc/c').exec()).header.revision);
    expect((await etcdctl(c.endpoints, ['compact', String(rev)])).code).toBe(0);
    proxy.pass();
    const ms = await waitFor(
      async () =>
        resyncs.length === 1 &&
        JSON.stringify(discovered(d)) === JSON.stringify(await etcdInstances(writer, 'svc')),
      20_000,
      'convergence',
    );
    console.log(
      `[discovery faults] compaction while cut off: re-listed and converged ${ms} ms after reconnecting was allowed; reason "${resyncs[0]}"`,
    );
    expect(resyncs[0]).toMatch(/^compacted/);
    expect(changes.slice(2).sort()).toEqual([
      'added:c=10.0.0.1:3',
      'removed:b=10.0.0.1:2',
      'updated:a=10.0.0.1:7',
    ]);
    expect(asSorted(replay(changes))).toEqual(await etcdInstances(writer, 'svc'));
    // And the new watch works.
    await writer.put('svc/d').value(goRecord('10.0.0.1:4'));
    await waitFor(
      () => changes.includes('added:d=10.0.0.1:4'),
      10_000,
      'a change after the re-list',
    );
  });

  it('detects a silently stalled watch stream (no keepalive) with a progress request and resumes without loss', async () => {
    const c = await cluster(1);
    const proxy: FaultProxy = track(await startProxy({ target: c.endpoints[0]! }));
    const writer = track(createClient({ hosts: c.endpoints }));
    // A plain etcd3 client: no gRPC keepalive, so only the stall detector can notice.
    const reader = track(new PlainEtcd3({ hosts: proxy.endpoint.replace('http://', '') }));
    const d: Discovery = track(
      discover(reader, 'svc', { stallTimeoutMs: 1000, progressTimeoutMs: 500 }),
    );
    const changes = recordChanges(d);
    await d.ready;
    await waitFor(() => watchHubStats(poolOf(reader)).watches === 1, 5000, 'watch attached');
    await sleep(300);
    proxy.blackhole('both'); // the open connection goes silent: no FIN, no RST
    const t0 = Date.now();
    await writer.put('svc/during').value(goRecord('10.0.0.1:1'));
    const ms = await waitFor(
      () => changes.includes('added:during=10.0.0.1:1'),
      15_000,
      'the change made during the stall',
    );
    const stats = watchHubStats(poolOf(reader));
    console.log(
      `[discovery faults] stalled stream: change delivered ${Date.now() - t0} ms after the blackhole (stall 1000 ms + progress 500 ms); hub ${JSON.stringify(stats)}`,
    );
    expect(stats.stalls).toBeGreaterThanOrEqual(1);
    expect(ms).toBeLessThan(1000 + 500 + 3000);
    expect(changes).toEqual(['added:during=10.0.0.1:1']);
  });

  it('leaves a member that lost its leader (require-leader), unlike a watch without it', async () => {
    const c = await cluster(3);
    const leader = await c.leader();
    const lonely = c.members.find(m => m !== leader)!;
    const others = c.members.filter(m => m !== lonely);
    const reader = track(new PlainEtcd3({ hosts: lonely.clientUrl.replace('http://', '') }));
    const withLeader = track(discover(reader, 'svc', { requireLeader: true }));
    const without = track(discover(reader, 'svc2', { requireLeader: false }));
    await Promise.all([withLeader.ready, without.ready]);
    const pool = poolOf(reader);
    const hubOf = (requireLeader: boolean) =>
      watchHubFor(pool, {
        requireLeader,
        retryInitialDelayMs: 100,
        retryMaxDelayMs: 5000,
        logger: noopLogger,
      });
    await waitFor(
      () => hubOf(true).stats().watches === 1 && hubOf(false).stats().watches === 1,
      5000,
      'watches attached',
    );
    for (const m of others) m.freeze();
    closers.push(() => others.forEach(m => m.thaw()));
    try {
      const ms = await waitFor(
        () => hubOf(true).stats().failures > 0,
        20_000,
        'the require-leader stream to be ended by etcd',
      );
      console.log(
        `[discovery faults] leader lost: require-leader watch ended by the member after ${ms} ms`,
      );
      expect(hubOf(false).stats().failures).toBe(0);
    } finally {
      for (const m of others) m.thaw();
    }
    // Once the cluster has a leader again, the watch is back and loses nothing.
    const writer = track(createClient({ hosts: c.endpoints }));
    await writer.put('svc/after').value(goRecord('10.0.0.1:9'));
    await waitFor(
      () => withLeader.snapshot().some(i => i.id === 'after'),
      30_000,
      'the change after recovery',
    );
  });
});
