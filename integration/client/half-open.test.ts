/**
 * Half-open connections: every open TCP flow between client and etcd goes silent
 * at once (no FIN, no RST) while new connections still pass, as when a NAT or load
 * balancer flushes its table. Our client fails calls within their deadline,
 * reconnects on its own, and its open watch resumes with no event lost or repeated.
 * Raw etcd3, through its own proxy, hangs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { createClient, type Etcd3 } from '../../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { settledWithin, sleep, timed, waitFor } from './helpers';

describe('half-open connections (NAT flush)', () => {
  let cluster: EtcdCluster;
  let ours: FaultProxy;
  let theirs: FaultProxy;
  let client: Etcd3;
  let raw: RawEtcd3;
  let writer: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    ours = await startProxy({ target: cluster.endpoints[0] });
    theirs = await startProxy({ target: cluster.endpoints[0] });
    client = createClient({ hosts: ours.endpoint });
    raw = new RawEtcd3({ hosts: theirs.endpoint });
    writer = createClient({ hosts: cluster.endpoints }); // direct, unaffected by the fault
  });
  afterAll(async () => {
    await client?.close();
    raw?.close();
    await writer?.close();
    await ours?.close();
    await theirs?.close();
    await cluster?.stop();
  });

  it('fails calls within the deadline, reconnects, and resumes the watch exactly once', async () => {
    const seen: string[] = [];
    const rawSeen: string[] = [];
    const watcher = await client.watch().prefix('ho/').create();
    watcher.on('put', kv => seen.push(kv.value.toString()));
    const rawWatcher = await raw.watch().prefix('ho/').create();
    rawWatcher.on('put', kv => rawSeen.push(kv.value.toString()));
    await client.get('ho/x').string();
    await raw.get('ho/x').string();

    const written: string[] = [];
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing && i < 400; i++) {
        await writer.put(`ho/${i % 7}`).value(String(i));
        written.push(String(i));
        await sleep(50);
      }
    })();
    await sleep(500);

    ours.blackhole('both'); // existing flows go silent; new connections pass
    theirs.blackhole('both');
    const faultAt = Date.now();

    const rawCall = raw.get('ho/0').string();
    const first = await timed(() => client.get('ho/0').string());
    // Either an attempt timed out and the read went to a fresh connection at once, or it
    // failed typed within its deadline; it never hangs.
    expect(first.ms).toBeLessThanOrEqual(5000 + 500);

    const recoveredIn = await waitFor(
      async () => (await timed(() => client.get('ho/0').string())).ok,
      15_000,
      100,
    );
    const watchBefore = seen.length;
    const resumedIn = await waitFor(() => seen.length > watchBefore, 15_000, 50);

    writing = false;
    await writes;
    await waitFor(() => seen.length >= written.length, 10_000, 50);
    console.log(
      `[measure] half-open: first call ${first.ok ? 'ok' : 'failed'} in ${first.ms} ms; ` +
        `calls ok again ${recoveredIn} ms later; watch delivering again ${resumedIn} ms after that ` +
        `(${Date.now() - faultAt} ms after the fault incl. draining); ${written.length} writes, ` +
        `${seen.length} events; raw etcd3: ${rawSeen.length} events`,
    );
    // Exactly once, in order.
    expect(seen).toEqual(written);

    // Raw etcd3 never recovers from this: its call is still pending and its watch silent.
    expect(await settledWithin(rawCall, 100)).toBe('pending');
    expect(rawSeen.length).toBeLessThan(written.length);
    await watcher.cancel();
  });

  it('a watch alone (no unary calls) is revived by keepalive within about time + timeout', async () => {
    const proxy = await startProxy({ target: cluster.endpoints[0] });
    const solo = createClient({ hosts: proxy.endpoint });
    try {
      const seen: string[] = [];
      const watcher = await solo.watch().key('solo').create();
      watcher.on('put', kv => seen.push(kv.value.toString()));
      await writer.put('solo').value('a');
      await waitFor(() => seen.length === 1, 5000);
      proxy.blackhole('both');
      const faultAt = Date.now();
      await writer.put('solo').value('b');
      // keepalive.timeMs 6000 + timeoutMs 4000 by default, then the watch resumes from its revision.
      const resumed = await waitFor(() => seen.length === 2, 20_000, 50);
      console.log(
        `[measure] watch-only half-open: resumed ${Date.now() - faultAt} ms after the fault`,
      );
      expect(seen).toEqual(['a', 'b']);
      expect(resumed).toBeLessThan(6000 + 4000 + 3000);
      await watcher.cancel();
    } finally {
      await solo.close();
      await proxy.close();
    }
  });
});
