/**
 * The member carrying a lease's keepalive stream dies (SIGKILL) in a 3-member
 * cluster, TTL 3 s: the lease is never lost. A follower's death moves the keepalive to
 * another member within 1 s; the leader's death within the election that etcd needs
 * before any member can renew a lease (election timeout 1 s by default) plus 1 s. The
 * member is killed right after a keepalive was sent on it, the worst moment for the
 * lease (its last acknowledged keepalive is a whole interval old).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import type { OwnedLease } from '../../lib/lease';
import { etcdctl, startEtcd, type EtcdCluster } from '../../lib/testing';
import { sleep, waitFor } from './helpers';

const TTL = 3;

describe('lease keepalive failover', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  // A fresh cluster per test: a member killed and restarted stays ranked last for a while.
  beforeEach(async () => {
    cluster = await startEtcd({ members: 3 });
    client = createClient({ hosts: cluster.endpoints });
  });
  afterEach(async () => {
    await client?.close();
    await cluster?.stop();
  });

  /** A lease whose keepalive stream runs on a follower, or (`leader`) on the leader. */
  async function leaseCarriedBy(leader: boolean): Promise<OwnedLease> {
    const lease = client.lease(TTL);
    await lease.grant();
    await waitFor(() => lease.keepaliveEndpoint !== undefined, 2000);
    const carrier = lease.keepaliveEndpoint!;
    const leaderUrl = (await cluster.leader()).clientUrl;
    if ((carrier === leaderUrl) !== leader) {
      // Move etcd's leadership to (or away from) the carrier.
      // `-w simple`: "<hex id>, started, <name>, <peer urls>, <client urls>, <learner>"
      const list = await etcdctl(cluster.endpoints, ['member', 'list', '-w', 'simple']);
      const rows = list.stdout
        .trim()
        .split('\n')
        .map(l => l.split(', '));
      const target = rows.find(r => (r[4] ?? '').split(',').includes(carrier) === leader)!;
      const moved = await etcdctl(leaderUrl, ['move-leader', target[0]!]);
      expect(moved.code, moved.stderr).toBe(0);
      await waitFor(async () => ((await cluster.leader()).clientUrl === carrier) === leader, 5000);
    }
    return lease;
  }

  /**
   * Kills the member carrying the keepalive stream at the worst moment for the lease:
   * right after a keepalive was sent on it (that one is never answered), so the last
   * acknowledged keepalive is a whole interval old.
   */
  async function killCarrier(lease: OwnedLease) {
    const lost: unknown[] = [];
    const timeline: string[] = [];
    let t0 = Date.now();
    const note = (what: string) => timeline.push(`${Date.now() - t0} ms ${what}`);
    lease.on('lost', err => {
      lost.push(err);
      note(`lost: ${String(err)}`);
    });
    lease.on('keepaliveFailed', err => note(`keepaliveFailed: ${String(err)}`));
    lease.on('keepaliveEstablished', () => note('keepaliveEstablished'));
    await sleep(1200);
    const carrier = lease.keepaliveEndpoint!;
    const member = cluster.members.find(m => m.clientUrl === carrier)!;
    let movedAt = 0;
    lease.on('keepaliveSucceeded', () => {
      note(`keepaliveSucceeded on ${lease.keepaliveEndpoint}`);
      if (!movedAt && lease.keepaliveEndpoint !== carrier) {
        movedAt = Date.now();
      }
    });
    const killed = new Promise<number>(resolve =>
      lease.once('keepaliveFired', () => {
        t0 = Date.now();
        const remainingMs = Math.round(lease.remainingMs());
        void member.kill('SIGKILL').then(() => resolve(remainingMs));
      }),
    );
    const remainingAtKill = await killed;
    note(`killed ${carrier}; lease declared lost in ${remainingAtKill} ms without an answer`);
    const killedAt = t0;
    try {
      await waitFor(() => movedAt > 0 || lost.length > 0, 2 * TTL * 1000);
      await sleep(2 * TTL * 1000); // and it stays alive
    } finally {
      console.log(`[timeline] ${timeline.join(' | ')}`);
    }
    return { movedMs: movedAt - killedAt, lost, member, carrier, remainingAtKill };
  }

  it('a follower dies: moved within 1 s, no lost', async () => {
    const lease = await leaseCarriedBy(false);
    const r = await killCarrier(lease);
    console.log(
      `[measure] keepalive failover (follower killed), TTL ${TTL} s: moved from ${r.carrier} to ` +
        `${lease.keepaliveEndpoint} in ${r.movedMs} ms; ${lease.keepaliveStreamsOpened} streams opened`,
    );
    expect(r.movedMs).toBeLessThan(1000);
    expect(r.lost).toEqual([]);
    expect(lease.signal.aborted).toBe(false);
    await lease.revoke();
  });

  it('the leader dies: moved once a new leader exists, no lost', async () => {
    const lease = await leaseCarriedBy(true);
    const r = await killCarrier(lease);
    console.log(
      `[measure] keepalive failover (leader killed), TTL ${TTL} s: moved from ${r.carrier} to ` +
        `${lease.keepaliveEndpoint} in ${r.movedMs} ms (includes etcd's election; killed right after ` +
        `a keepalive was sent, ${r.remainingAtKill} ms before the loss bound); ` +
        `${lease.keepaliveStreamsOpened} streams opened`,
    );
    expect(r.movedMs).toBeLessThan(3000);
    expect(r.lost).toEqual([]);
    expect(lease.signal.aborted).toBe(false);
    await lease.revoke();
  });
});
