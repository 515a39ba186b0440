/**
 * Bounded lifecycle against a real etcd: close() ends every watcher (namespaces
 * included), and after close() every call and every stream rejects promptly with
 * etcd3's ClientClosedError, as etcd3 documents for calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientClosedError } from 'etcd3';
import { Etcd3 } from '../../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { settledWithin, waitFor } from './helpers';

/** Settles within 1 s and rejects with ClientClosedError. */
async function closedPromptly(p: Promise<unknown>): Promise<void> {
  p.catch(() => undefined);
  expect(await settledWithin(p, 1000)).toBe('settled');
  await expect(p).rejects.toBeInstanceOf(ClientClosedError);
}

describe('close(): watchers end, later calls and streams reject with ClientClosedError', () => {
  let cluster: EtcdCluster;
  let proxy: FaultProxy;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    proxy = await startProxy({ target: cluster.endpoints[0] });
  });
  afterAll(async () => {
    await proxy?.close();
    await cluster?.stop();
  });

  it('watchers of the client and of (nested) namespaces end at close()', async () => {
    const client = new Etcd3({ hosts: cluster.endpoints });
    const ended: string[] = [];
    const top = await client.watch().key('lc/a').create();
    const nested = await client.namespace('lc/').namespace('n/').watch().key('b').create();
    top.on('end', () => ended.push('top'));
    nested.on('end', () => ended.push('nested'));
    await client.close();
    await waitFor(() => ended.length === 2, 2000);
    expect(ended.sort()).toEqual(['nested', 'top']);
  });

  it('after close(), watch/get/put/lease/lock/election reject promptly', async () => {
    const client = new Etcd3({ hosts: cluster.endpoints });
    await client.put('lc/x').value('1');
    await client.close();
    const ns = client.namespace('lc/');
    await closedPromptly(client.watch().key('lc/x').create());
    await closedPromptly(ns.watch().prefix('').create());
    await closedPromptly(client.get('lc/x').string());
    await closedPromptly(ns.put('x').value('2').exec());
    await closedPromptly(client.lease(5).grant());
    await closedPromptly(client.lock('lc/lock').ttl(5).acquire());
    await closedPromptly(client.election('lc-el', 5).leader());
    await closedPromptly(
      new Promise((resolve, reject) => {
        const observer = client.election('lc-el', 5).observe();
        observer.then(resolve, reject);
      }),
    );
  });

  it('a watch create() still waiting for its stream rejects when close() runs', async () => {
    const client = new Etcd3({ hosts: proxy.endpoint, connectTimeoutMs: 60_000 });
    proxy.blackholeNew(true); // the stream's connection never answers
    try {
      const pending = client.namespace('lc/').watch().key('p').create();
      pending.catch(() => undefined);
      expect(await settledWithin(pending, 300)).toBe('pending');
      await client.close();
      await closedPromptly(pending);
    } finally {
      proxy.pass();
    }
  });
});
