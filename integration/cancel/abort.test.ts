/**
 * Cancellation with AbortSignal against a real etcd: an already-aborted signal sends
 * nothing (etcd's own request counters and the revision do not move), an abort while
 * the member is frozen (SIGSTOP) rejects within 50 ms, and a write aborted after it
 * was sent says it may have been applied.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import { etcdMetric, startEtcd, type EtcdCluster } from '../../lib/testing';
import { sleep, timed, waitFor } from '../client/helpers';

/** Requests etcd received so far for `method` (e.g. `Put`, `LeaseGrant`, `Watch`). */
const received = (endpoint: string, method: string) =>
  etcdMetric(endpoint, 'grpc_server_started_total', `grpc_method="${method}"`);

describe('AbortSignal', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let endpoint: string;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    endpoint = cluster.endpoints[0];
    client = createClient({ hosts: endpoint, callTimeoutMs: 5000 });
    await client.put('warm').value('up');
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  const revision = async () => (await client.get('warm').exec()).header.revision;

  it('an already-aborted signal sends nothing: every call rejects with AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    const signal = ac.signal;
    const methods = ['Range', 'Put', 'Txn', 'DeleteRange', 'LeaseGrant', 'Watch'];
    const rev0 = await revision();
    const before = await Promise.all(methods.map(m => received(endpoint, m)));

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => client.get('k').options({ signal }).string()],
      ['put', () => client.put('k').value('v').options({ signal }).exec()],
      ['delete', () => client.delete().key('k').options({ signal }).exec()],
      [
        'txn',
        () =>
          client
            .if('k', 'Create', '==', 0)
            .then(client.put('k').value('v'))
            .options({ signal })
            .commit(),
      ],
      ['lease', () => client.lease(5, { signal }).grant()],
      ['lock', () => client.lock('lk').options({ signal }).acquire()],
      ['campaign', () => client.election('el').campaign('me', { signal }).wait()],
      ['watch', () => client.watch().key('k').options({ signal }).create()],
    ];
    for (const [name, call] of calls) {
      const r = await timed(call);
      expect(r.ok, name).toBe(false);
      expect((r.error as Error).name, name).toBe('AbortError');
      expect((r.error as { mayHaveBeenApplied?: boolean }).mayHaveBeenApplied, name).toBe(false);
      expect(r.ms, name).toBeLessThan(50);
    }
    await sleep(200); // anything sent in the background would have arrived by now
    const after = await Promise.all(methods.map(m => received(endpoint, m)));
    expect(after).toEqual(before);
    expect(await revision()).toBe(rev0);
  });

  it('an abort while the member is frozen rejects within 50 ms; a sent write may have been applied', async () => {
    await client.put('warm').value('again'); // channel READY
    const member = cluster.member(0);
    member.freeze();
    try {
      const ac = new AbortController();
      const put = timed(() =>
        client.put('frozen').value('v').options({ signal: ac.signal }).exec(),
      );
      const getAc = new AbortController();
      const get = timed(() => client.get('frozen').options({ signal: getAc.signal }).string());
      await sleep(300); // both sent, no answer
      const t0 = Date.now();
      ac.abort();
      getAc.abort();
      const [p, g] = await Promise.all([put, get]);
      const ms = Date.now() - t0;
      expect(p.ok).toBe(false);
      expect(p.error).toMatchObject({ name: 'AbortError', mayHaveBeenApplied: true });
      expect(g.error).toMatchObject({ name: 'AbortError', mayHaveBeenApplied: false });
      expect(ms).toBeLessThanOrEqual(50);
      console.log(`[measure] abort while frozen: put and get rejected ${ms} ms after abort()`);
    } finally {
      member.thaw();
    }
    await client.put('warm').value('thawed');
  });

  it('an abort of a watch creation on a frozen member rejects within 50 ms and leaves no watcher', async () => {
    const watchers0 = await etcdMetric(endpoint, 'etcd_debugging_mvcc_watcher_total');
    const member = cluster.member(0);
    member.freeze();
    let ms = 0;
    try {
      const ac = new AbortController();
      const creating = timed(() => client.watch().key('w').options({ signal: ac.signal }).create());
      await sleep(300);
      const t0 = Date.now();
      ac.abort();
      const r = await creating;
      ms = Date.now() - t0;
      expect(r.error).toMatchObject({ name: 'AbortError' });
      expect(ms).toBeLessThanOrEqual(50);
    } finally {
      member.thaw();
    }
    console.log(
      `[measure] abort of a watch creation while frozen: rejected ${ms} ms after abort()`,
    );
    // After the thaw, the server may have created the watch: it is cancelled again.
    await waitFor(
      async () => (await etcdMetric(endpoint, 'etcd_debugging_mvcc_watcher_total')) === watchers0,
      5000,
    );
  });

  it('aborting after a watch was created cancels it', async () => {
    const ac = new AbortController();
    const watcher = await client.watch().key('w2').options({ signal: ac.signal }).create();
    const ended = new Promise<void>(resolve => watcher.once('end', () => resolve()));
    ac.abort();
    await ended;
  });

  it('a lock aborted while being acquired is not held afterwards', async () => {
    const member = cluster.member(0);
    member.freeze();
    const ac = new AbortController();
    try {
      const acquiring = timed(() =>
        client.lock('held').ttl(5).options({ signal: ac.signal }).acquire(),
      );
      await sleep(200);
      ac.abort();
      expect((await acquiring).error).toMatchObject({ name: 'AbortError' });
    } finally {
      member.thaw();
    }
    // Whatever reached etcd is undone: another holder gets the lock at once.
    const other = await client.lock('held').ttl(5).acquire();
    await other.release();
  });

  it('a campaign aborted before being elected resigns and rejects wait()', async () => {
    const leader = client.election('race').campaign('first');
    await leader.wait();
    const ac = new AbortController();
    const second = client.election('race').campaign('second', { signal: ac.signal });
    const waiting = timed(() => second.wait());
    await sleep(200);
    ac.abort();
    const r = await waiting;
    expect(r.error).toMatchObject({ name: 'AbortError' });
    await waitFor(
      async () => (await client.getAll().prefix('election/race').keys()).length === 1,
      5000,
    );
    await leader.resign();
  });
});
