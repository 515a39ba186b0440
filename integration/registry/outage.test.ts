/**
 * The registering client is cut off from a healthy etcd (open flows go silent,
 * new connections are refused) for longer than the TTL, so etcd expires the lease
 * and deletes the record. When the path heals, the record comes back by itself,
 * under the same key, and quickly. A raw etcd3 Lease in the same situation never
 * comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { createClient, type Etcd3 } from '../../lib/client';
import type { ResilientEtcdOptions } from '../../lib/options';
import { register } from '../../lib/registry';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { read, sleep, waitFor } from './helpers';

const TTL = 2;

describe('registration across an etcd outage longer than the TTL', () => {
  let cluster: EtcdCluster;
  let observer: Etcd3;
  const cleanups: Array<() => unknown> = [];

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    observer = createClient({ hosts: cluster.endpoints }); // direct: unaffected by the faults
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) {
      await c();
    }
    await observer?.close();
    await cluster?.stop();
  });

  async function outage(name: string, clientOptions: ResilientEtcdOptions) {
    const proxy = await startProxy({ target: cluster.endpoints[0]! });
    const client = createClient({ hosts: proxy.endpoint, ...clientOptions });
    cleanups.push(
      () => proxy.close(),
      () => client.close(),
    );
    const reg = register(client, {
      service: `outage-${name}`,
      addr: '10.1.1.1:8080',
      id: 'a',
      ttlSeconds: TTL,
    });
    cleanups.push(() => reg.close());
    const events: string[] = [];
    reg.onLost(e => events.push(`lost:${e.reason}`));
    reg.onRestored(() => events.push('restored'));
    await reg.ready();
    const value = await read(observer, reg.key);
    const firstLease = reg.leaseId;

    proxy.blackhole('both');
    proxy.refuse(true);
    const cutAt = Date.now();
    await waitFor(async () => (await read(observer, reg.key)) === null, (2 * TTL + 3) * 1000);
    const goneMs = Date.now() - cutAt;
    await sleep(1000); // stay cut off a while longer: the client is deep in its retries

    proxy.pass();
    const healedAt = Date.now();
    const backMs = await waitFor(async () => (await read(observer, reg.key)) === value, 5000, 10);
    await waitFor(() => reg.state === 'published', 2000);
    console.log(
      `[registry outage/${name}] record gone ${goneMs} ms after the cut (TTL ${TTL} s); back ${backMs} ms after the path healed`,
    );
    expect(reg.leaseId).not.toBe(firstLease);
    expect(events).toEqual(['lost:keepalive-timeout', 'restored']);
    expect(Date.now() - healedAt).toBeLessThan(5000);
    return backMs;
  }

  it('is back within 1 s of the path healing, same key, no action by the application (default options)', async () => {
    // What bounds it: the breaker opened because the endpoint was unreachable, so the
    // client lets calls through as soon as a fresh connection is READY (the next
    // reconnect attempt, at most grpc.max_reconnect_backoff_ms = 800 ms apart, or a
    // rebuild); then the registration's grant poll (100 ms while every breaker is open),
    // one grant and one put.
    const backMs = await outage('defaults', {});
    expect(backMs).toBeLessThan(1000);
  });

  it('is back within 1 s with a shorter breaker half-open delay too', async () => {
    const backMs = await outage('fast-breaker', { breaker: { halfOpenAfterMs: 500 } });
    expect(backMs).toBeLessThan(1000);
  });

  it('raw etcd3: a Lease lost in the same outage never re-registers its key', async () => {
    const proxy: FaultProxy = await startProxy({ target: cluster.endpoints[0]! });
    const raw = new RawEtcd3({ hosts: proxy.endpoint });
    cleanups.push(
      () => proxy.close(),
      () => raw.close(),
    );
    const lease = raw.lease(TTL);
    let lost = false;
    lease.on('lost', () => (lost = true));
    await lease.put('outage-raw/a').value('raw');
    proxy.blackhole('both');
    proxy.refuse(true);
    await waitFor(
      async () => (await read(observer, 'outage-raw/a')) === null,
      (2 * TTL + 3) * 1000,
    );
    await sleep(1000);
    proxy.pass();
    // Our registration is back within 1 s; give raw etcd3 several times that.
    await sleep(3 * TTL * 1000);
    expect(await read(observer, 'outage-raw/a')).toBeNull();
    console.log(
      `[registry outage/raw-etcd3] key still absent ${3 * TTL} s after healing; lease 'lost' fired: ${lost}`,
    );
  });
});
