/**
 * Leases created through the client keep working across channel rebuilds: the
 * keepalive stream is cancelled with its channel and resumes on the new one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { sleep } from './helpers';

describe('lease across rebuilds', () => {
  let cluster: EtcdCluster;
  let proxy: FaultProxy;
  let client: Etcd3;
  let observer: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    proxy = await startProxy({ target: cluster.endpoints[0] });
    client = createClient({ hosts: proxy.endpoint });
    observer = createClient({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    await client?.close();
    await observer?.close();
    await proxy?.close();
    await cluster?.stop();
  });

  it('keeps a 3 s lease and its key alive through repeated connection resets', async () => {
    const lease = client.lease(3);
    let lost = 0;
    lease.on('lost', () => lost++);
    await lease.put('leased').value('alive');
    const rebuildsBefore = client.health().endpoints[0].rebuilds;
    for (let i = 0; i < 6; i++) {
      proxy.reset(); // RST: streams error with UNAVAILABLE, the endpoint is rebuilt
      await sleep(1000);
      expect(await observer.get('leased').string(), `after reset ${i}`).toBe('alive');
    }
    await sleep(3500); // longer than the TTL: only keepalives on the new channels keep it
    expect(await observer.get('leased').string()).toBe('alive');
    expect(lost).toBe(0);
    expect(client.health().endpoints[0].rebuilds).toBeGreaterThan(rebuildsBefore);
    await lease.revoke();
    expect(await observer.get('leased').string()).toBeNull();
  });
});
