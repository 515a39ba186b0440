/**
 * Endpoint auto-sync: the client learns the members from the member list, adds
 * only those it can reach, and keeps the endpoints it was configured with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../lib';
import {
  freePort,
  startEtcd,
  startProxy,
  type EtcdCluster,
  type FaultProxy,
} from '../../lib/testing';

describe('endpoint auto-sync', () => {
  let cluster: EtcdCluster;
  let proxy: FaultProxy;
  let unreachable: string;

  beforeAll(async () => {
    unreachable = `http://127.0.0.1:${await freePort()}`;
    // Member 2 advertises a client URL nobody listens on (a wrong advertise URL, go-zero #3448).
    cluster = await startEtcd({
      members: 3,
      extraArgs: m => (m.index === 2 ? ['--advertise-client-urls', unreachable] : []),
    });
    proxy = await startProxy({ target: cluster.endpoints[0] });
  });
  afterAll(async () => {
    await proxy?.close();
    await cluster?.stop();
  });

  it('adds reachable members, never unreachable ones, and keeps the configured endpoint', async () => {
    const client = createClient({ hosts: proxy.endpoint });
    try {
      const result = await client.syncEndpoints();
      const urls = client
        .health()
        .endpoints.map(e => e.endpoint)
        .sort();
      expect(result.added.sort()).toEqual([cluster.endpoints[0], cluster.endpoints[1]].sort());
      expect(urls).toEqual([proxy.endpoint, cluster.endpoints[0], cluster.endpoints[1]].sort());
      expect(urls).not.toContain(unreachable);

      // The configured endpoint dies: reads go on through the synced members at once (a
      // write in flight on the dying connection could fail: it may have been sent).
      await client.put('sync').value('1');
      await proxy.close();
      for (let i = 0; i < 20; i++) {
        expect(await client.get('sync').string()).toBe('1');
      }
      await client.put('sync').value('2');
      expect(await client.get('sync').string()).toBe('2');
    } finally {
      await client.close();
    }
  });

  it('runs periodically when autoSyncIntervalMs is set', async () => {
    const client = createClient({ hosts: cluster.endpoints[1], autoSyncIntervalMs: 200 });
    try {
      const start = Date.now();
      for (let i = 0; i < 100 && client.health().endpoints.length < 2; i++) {
        await new Promise(r => setTimeout(r, 50));
      }
      expect(
        client
          .health()
          .endpoints.map(e => e.endpoint)
          .sort(),
      ).toEqual([cluster.endpoints[0], cluster.endpoints[1]].sort());
      expect(Date.now() - start).toBeLessThan(5000);
    } finally {
      await client.close();
    }
  });
});
