/**
 * 1,000 registrations from one process share one lease: etcd itself (its
 * /metrics) sees one LeaseKeepAlive stream and one keepalive per TTL/3, and the
 * process's CPU in steady state stays negligible.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { register, type Registration } from '../../lib/registry';
import { etcdctl, startEtcd, type EtcdCluster } from '../../lib/testing';
import { etcdMetric, sleep, waitFor } from './helpers';

const COUNT = 1000;
const TTL = 5;
const WINDOW_MS = 10_000;
const KEEPALIVE = 'grpc_method="LeaseKeepAlive"';

describe('1,000 registrations from one process', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  const regs: Registration[] = [];

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    await Promise.all(regs.map(r => r.close()));
    await client?.close();
    await cluster?.stop();
  });

  it('are kept alive by one keepalive stream, without a keepalive storm', async () => {
    const endpoint = cluster.endpoints[0]!;
    const streams0 = await etcdMetric(endpoint, 'grpc_server_started_total', KEEPALIVE);
    const watchers0 = await etcdMetric(endpoint, 'etcd_debugging_mvcc_watcher_total');
    const t0 = Date.now();
    for (let i = 0; i < COUNT; i++) {
      regs.push(
        register(client, {
          service: 'scale',
          addr: `10.9.${i >> 8}.${i & 255}:8080`,
          id: `i${i}`,
          ttlSeconds: TTL,
        }),
      );
    }
    await Promise.all(regs.map(r => r.ready()));
    const publishMs = Date.now() - t0;
    // Self-heal watches attach one by one over the shared watch stream.
    await waitFor(
      async () =>
        (await etcdMetric(endpoint, 'etcd_debugging_mvcc_watcher_total')) - watchers0 >= COUNT,
      30_000,
      250,
    );

    const msgs0 = await etcdMetric(endpoint, 'grpc_server_msg_received_total', KEEPALIVE);
    const cpu0 = process.cpuUsage();
    await sleep(WINDOW_MS);
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const messages =
      (await etcdMetric(endpoint, 'grpc_server_msg_received_total', KEEPALIVE)) - msgs0;
    const streams = (await etcdMetric(endpoint, 'grpc_server_started_total', KEEPALIVE)) - streams0;
    const keys = (
      await etcdctl(cluster.endpoints, ['get', 'scale/', '--prefix', '--keys-only'])
    ).stdout
      .split('\n')
      .filter(Boolean).length;
    const leases = Number(
      /found (\d+) leases/.exec((await etcdctl(cluster.endpoints, ['lease', 'list'])).stdout)?.[1],
    );
    console.log(
      `[registry scale] ${COUNT} registrations, TTL ${TTL} s: published in ${publishMs} ms; ` +
        `steady ${WINDOW_MS / 1000} s: CPU ${cpuMs.toFixed(0)} ms (${((cpuMs / WINDOW_MS) * 100).toFixed(2)}% of a core), ` +
        `${streams} keepalive stream(s), ${messages} keepalive messages, ${leases} lease(s), ${keys} keys`,
    );
    expect(keys).toBe(COUNT);
    expect(leases).toBe(1);
    expect(streams).toBe(1);
    // One keepalive per TTL/3 (1.67 s): 6 in 10 s, whatever the number of registrations.
    expect(messages).toBeGreaterThanOrEqual(4);
    expect(messages).toBeLessThanOrEqual(8);
    // Measured ~1%; 10% leaves room for a loaded machine while still catching a storm.
    expect(cpuMs / WINDOW_MS).toBeLessThan(0.1);
    expect(regs.every(r => r.state === 'published')).toBe(true);

    const closeStart = Date.now();
    await Promise.all(regs.map(r => r.close()));
    const closeMs = Date.now() - closeStart;
    const left = (
      await etcdctl(cluster.endpoints, ['get', 'scale/', '--prefix', '--keys-only'])
    ).stdout.trim();
    console.log(`[registry scale] closed all ${COUNT} in ${closeMs} ms`);
    expect(left).toBe('');
  });
});
