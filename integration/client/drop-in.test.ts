/**
 * Drop-in: etcd3's own features work unchanged through our client against a real
 * etcd — KV, txn, namespace, lease, lock, election, STM, watch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdLockFailedError } from 'etcd3';
import { Etcd3 } from '../../lib';
import { startEtcd, type EtcdCluster } from '../../lib/testing';

describe('etcd3 features through our Etcd3', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = new Etcd3({ hosts: cluster.endpoints }); // the same constructor as etcd3's
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('kv, txn and namespace', async () => {
    await client.put('d/a').value('1');
    await client.put('d/b').value('2');
    expect(await client.getAll().prefix('d/').strings()).toEqual({ 'd/a': '1', 'd/b': '2' });
    const result = await client
      .if('d/a', 'Value', '==', '1')
      .then(client.put('d/a').value('3'))
      .else(client.get('d/a'))
      .commit();
    expect(result.succeeded).toBe(true);
    const ns = client.namespace('d/');
    expect(await ns.get('a').string()).toBe('3');
    await ns.delete().key('b');
    expect(await client.get('d/b').string()).toBeNull();
  });

  it('lease with keys, then revoke', async () => {
    const lease = client.lease(5);
    await lease.put('d/leased').value('x');
    expect(await client.get('d/leased').string()).toBe('x');
    await lease.revoke();
    expect(await client.get('d/leased').string()).toBeNull();
  });

  it('lock: exclusive while held, free after release', async () => {
    const lock = await client.lock('d/lock').ttl(5).acquire();
    await expect(client.lock('d/lock').ttl(5).acquire()).rejects.toBeInstanceOf(
      EtcdLockFailedError,
    );
    await lock.release();
    const again = await client.lock('d/lock').ttl(5).acquire();
    await again.release();
  });

  it('election: campaign, leader, resign', async () => {
    const election = client.election('d-election', 5);
    const campaign = election.campaign('me');
    await new Promise<void>((resolve, reject) => {
      campaign.on('elected', () => resolve());
      campaign.on('error', reject);
    });
    expect(await election.leader()).toBe('me');
    await campaign.resign();
  });

  it('STM (serializable snapshot): concurrent increments retry on conflict, each applied once', async () => {
    await client.put('d/counter').value('0');
    await Promise.all(
      Array.from({ length: 5 }, () =>
        client.stm({ retries: 20 }).transact(async tx => {
          const n = Number(await tx.get('d/counter').string());
          await tx.put('d/counter').value(String(n + 1));
        }),
      ),
    );
    expect(await client.get('d/counter').string()).toBe('5');
  });

  it('watch delivers puts and deletes', async () => {
    const seen: string[] = [];
    const watcher = await client.watch().prefix('d/w/').create();
    watcher.on('put', kv => seen.push(`put ${kv.key}`));
    watcher.on('delete', kv => seen.push(`delete ${kv.key}`));
    await client.put('d/w/1').value('x');
    await client.delete().key('d/w/1');
    for (let i = 0; i < 100 && seen.length < 2; i++) {
      await new Promise(r => setTimeout(r, 20));
    }
    expect(seen).toEqual(['put d/w/1', 'delete d/w/1']);
    await watcher.cancel();
  });
});
