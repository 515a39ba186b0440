/**
 * Every lease a client makes (its own, a lock's, a campaign's, through namespaces) is an
 * OwnedLease the client holds, so close() ends it quietly: no `lost`, no campaign
 * `error` after the client closed (in etcd3's upstream suite, a campaign left running
 * by a closed client reported an error in a later test).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { OwnedElection, OwnedLease, OwnedLock, OwnershipEndedError } from '../../lib/lease';
import { startEtcd, type EtcdCluster } from '../../lib/testing';

describe('client leases', () => {
  let cluster: EtcdCluster;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('namespace().lease(), .lock() and .election(), nested too, are the owned variants', async () => {
    const client = createClient({ hosts: cluster.endpoints });
    try {
      const ns = client.namespace('a/');
      const lease = ns.lease(5);
      expect(lease).toBeInstanceOf(OwnedLease);
      expect(ns.lock('k')).toBeInstanceOf(OwnedLock);
      expect(ns.election('e', 5)).toBeInstanceOf(OwnedElection);
      const nested = ns.namespace('b/');
      expect(nested.lease(5)).toBeInstanceOf(OwnedLease);
      expect(nested.lock('k')).toBeInstanceOf(OwnedLock);
      // Still namespaced: the lease's key lands under a/.
      await lease.put('x').value('1');
      expect(await client.get('a/x').string()).toBe('1');
      await lease.revoke();
    } finally {
      await client.close();
    }
  });

  it("close() ends the leases of campaigns, locks and namespaces: signal 'closed', no lost, no error", async () => {
    const client = createClient({ hosts: cluster.endpoints });
    const events: string[] = [];
    const campaign = client.election('close-test', 5).campaign('me');
    campaign.on('error', () => events.push('campaign error'));
    await campaign.wait();
    const lock = await client.namespace('n/').lock('job').ttl(5).acquire();
    const nsLease = client.namespace('n/').lease(5);
    await nsLease.grant();
    const leases = [(campaign as any).lease, (lock as any).lease, nsLease] as OwnedLease[];
    leases.forEach((l, i) => l.on('lost', () => events.push(`lost ${i}`)));

    await client.close();

    for (const l of leases) {
      expect(l).toBeInstanceOf(OwnedLease);
      expect(l.signal.aborted).toBe(true);
      expect(l.signal.reason).toBeInstanceOf(OwnershipEndedError);
      expect((l.signal.reason as OwnershipEndedError).end).toBe('closed');
    }
    expect(events).toEqual([]);
  });

  it('keepaliveOnce() on a lease already lost to TTL 0 rejects with the error `lost` carried (etcd3 suite: "emits a lost event if the lease is invalidated")', async () => {
    const client = createClient({ hosts: cluster.endpoints });
    const other = createClient({ hosts: cluster.endpoints });
    try {
      const lease = client.lease(3);
      const id = await lease.grant();
      const lost: Error[] = [];
      lease.on('lost', err => lost.push(err));
      // Revoked behind its back: the loop's next keepalive is answered TTL 0 (lost).
      await (other as any).leaseClient.leaseRevoke({ ID: id });
      for (let i = 0; i < 60 && lost.length === 0; i++) {
        await new Promise(r => setTimeout(r, 50));
      }
      expect(lost).toHaveLength(1);
      // etcd answers TTL 0 here too: the rejection is the loss already reported.
      const err = await lease.keepaliveOnce().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBe(lost[0]);
      expect(lost).toHaveLength(1); // `lost` fires once
    } finally {
      await other.close();
      await client.close();
    }
  });
});
