/**
 * Leases created through the client keep working across channel rebuilds: the
 * keepalive stream is cancelled with its channel and resumes on the new one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from '../../lib';
import type { FaultProxy } from '../../lib/testing';
import { sleep, startProxiedNode, type ProxiedNode } from './helpers';

describe('lease across rebuilds', () => {
  let node: ProxiedNode;
  let proxy: FaultProxy;
  let client: Etcd3;
  let observer: Etcd3;

  beforeAll(async () => {
    node = await startProxiedNode();
    ({ proxy, client, observer } = node);
  });
  afterAll(async () => {
    await node?.close();
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
