/**
 * Nothing lost, nothing twice: under faults (member kill/restart, connection
 * resets, forced rebuilds) no write is applied twice by a retry, and a watch
 * delivers every event exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from '../../lib';
import type { EtcdCluster, FaultProxy } from '../../lib/testing';
import { sleep, startProxiedNode, waitFor, type ProxiedNode } from './helpers';

describe('exactly once under faults', () => {
  let node: ProxiedNode;
  let cluster: EtcdCluster;
  let proxy: FaultProxy;
  let client: Etcd3;
  let observer: Etcd3;

  beforeAll(async () => {
    node = await startProxiedNode();
    ({ cluster, proxy, client, observer } = node);
  });
  afterAll(async () => {
    await node?.close();
  });

  it('no write is applied twice while connections are reset and the member restarts', async () => {
    // Each write creates its own key: a put applied twice would leave version 2.
    const outcomes: Array<'ok' | 'failed'> = [];
    let stop = false;
    let faultsDone = false;
    const faults = (async () => {
      for (let round = 0; round < 3 && !stop; round++) {
        await sleep(400);
        proxy.reset(); // RST every connection: in-flight writes may or may not have been applied
        await sleep(400);
        proxy.delay(1500); // writes outlive their attempt; a write must still not be re-sent
        await sleep(800);
        proxy.pass();
      }
      await cluster.member(0).kill('SIGKILL');
      await sleep(500);
      await cluster.member(0).restart();
      await sleep(300);
    })().finally(() => (faultsDone = true));
    for (let i = 0; i < 3000 && !faultsDone; i++) {
      try {
        await client.put(`w/${String(i).padStart(4, '0')}`).value(String(i));
        outcomes.push('ok');
      } catch {
        outcomes.push('failed');
      }
      await sleep(5);
    }
    stop = true;
    await faults;
    const kvs = await observer.getAll().prefix('w/').exec();
    const versions = new Map(kvs.kvs.map(kv => [kv.key.toString(), Number(kv.version)]));
    const ok = outcomes.filter(o => o === 'ok').length;
    const failed = outcomes.length - ok;
    console.log(
      `[measure] write-once: ${outcomes.length} writes, ${ok} ok, ${failed} failed; max version ${Math.max(...versions.values())}`,
    );
    expect(failed).toBeGreaterThan(0); // the faults did bite
    for (const [key, version] of versions) {
      expect(version, key).toBe(1);
    }
    outcomes.forEach((o, i) => {
      if (o === 'ok') {
        expect(versions.get(`w/${String(i).padStart(4, '0')}`)).toBe(1);
      }
    });
  });

  it('a watch open across a member kill/restart and a rebuild delivers every event exactly once', async () => {
    const seen: number[] = [];
    const watcher = await client.watch().prefix('ev/').create();
    watcher.on('put', kv => seen.push(Number(kv.value.toString())));
    const written: number[] = [];
    // A put that failed across the kill may still have been applied (etcd persisted it,
    // the answer was lost): its event may or may not come, but at most once, in order.
    const unknown = new Set<number>();
    const writer = (async () => {
      for (let i = 0; i < 150; i++) {
        try {
          await observer.put(`ev/${i % 5}`).value(String(i));
          written.push(i);
        } catch {
          unknown.add(i);
        }
        await sleep(20);
      }
    })();
    await sleep(600);
    await cluster.member(0).kill('SIGKILL');
    await sleep(800);
    await cluster.member(0).restart();
    await sleep(600);
    proxy.reset(); // forces the client's channels through UNAVAILABLE and a rebuild
    await writer;
    await waitFor(() => seen.length >= written.length, 15_000);
    await sleep(300); // a duplicate would arrive now
    console.log(
      `[measure] watch exactly-once: ${written.length} writes, ${seen.length} events, ${client.health().endpoints[0].rebuilds} rebuilds`,
    );
    expect(client.health().endpoints[0].rebuilds).toBeGreaterThan(0);
    expect(seen.filter(v => !unknown.has(v))).toEqual(written); // every acknowledged write, once, in order
    expect(seen.every((v, i) => i === 0 || v > seen[i - 1]!)).toBe(true); // nothing twice, nothing reordered
    await watcher.cancel();
  });

  it('a watch across rapid connection resets, while writes stream in, delivers every event exactly once', async () => {
    // etcd3 alone moves a re-attached watcher's resume point to the store's current revision
    // before the events in between have arrived; a second reset then skips them.
    const seen: number[] = [];
    const watcher = await client.watch().prefix('rr/').create();
    watcher.on('put', kv => seen.push(Number(kv.value.toString())));
    const written: number[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 3000; i++) {
        await observer.put(`rr/${i % 3}`).value(String(i));
        written.push(i);
      }
    })();
    // Latency keeps a catch-up batch in flight behind each "created" reply, where a reset hits it.
    proxy.delay(60);
    for (let r = 0; r < 12; r++) {
      await sleep(150 + (r % 3) * 100);
      proxy.reset();
    }
    proxy.pass();
    writing = false;
    await writer;
    await waitFor(() => seen.length >= written.length, 15_000);
    await sleep(300);
    console.log(
      `[measure] watch across 12 resets: ${written.length} writes, ${seen.length} events`,
    );
    expect(seen).toEqual(written);
    await watcher.cancel();
  });
});
