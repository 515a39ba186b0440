/**
 * Leases that ended (revoked, released, lost) are not retained by the client
 * (issue 10 finding 6: 300 grant+revoke used to leave 300 held).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { heldLeases } from './helpers';

describe('lease retention', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('300 grant+revoke leave 0 leases held; released ones are dropped too', async () => {
    for (let i = 0; i < 300; i++) {
      const lease = client.lease(5);
      await lease.grant();
      await lease.revoke();
    }
    expect(heldLeases(client)).toBe(0);
    const kept = client.lease(5);
    await kept.grant();
    expect(heldLeases(client)).toBe(1);
    kept.release();
    expect(heldLeases(client)).toBe(0);
  });
});
