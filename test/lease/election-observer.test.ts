/**
 * `client.election(name).observe()` against a real etcd: every term is reported, in
 * revision order, including a new term with the same value and leaders that come and
 * go between two reads; a compaction while the observer is cut off yields a `gap`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientClosedError, ElectionObserver } from 'etcd3';
import { createClient, type Etcd3 } from '../../lib/client';
import type { ElectionGap, ElectionLeader, OwnedElectionObserver } from '../../lib/lease';
import { startEtcd, startProxy, type EtcdCluster } from '../../lib/testing';

const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

async function waitFor(fn: () => boolean, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!fn()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

describe('election observer', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let n = 0;
  const name = () => `obs-${++n}`;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
  }, 30_000);
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('reports a new term with the same value (the same node re-elected)', async () => {
    const election = client.election(name(), 5);
    const a = election.campaign('node-1');
    await a.wait();
    const observer = await election.observe();
    expect(observer).toBeInstanceOf(ElectionObserver);
    const changes: Array<string | undefined> = [];
    observer.on('change', v => changes.push(v));
    const terms: ElectionLeader[] = [];
    (observer as OwnedElectionObserver).onLeader(l => terms.push(l));
    const first = await a.getCampaignKey();
    const b = election.campaign('node-1'); // queued behind A
    await waitFor(() => (b as any).keyRevision !== undefined, 2000);
    await a.resign(); // B, with the same value, is elected: a new term
    await b.wait();
    await waitFor(() => changes.length >= 1, 2000).catch(() => undefined);
    await sleep(200);
    expect(changes).toEqual(['node-1']);
    expect(terms).toHaveLength(1);
    expect(terms[0]!.key).toBe(await b.getCampaignKey());
    expect(terms[0]!.key).not.toBe(first);
    const created = (await client.get(terms[0]!.key!).exec()).kvs[0]!.create_revision;
    expect(terms[0]!.createRevision).toBe(created);
    await b.resign();
    await observer.cancel();
  });

  it('a listener that throws is logged and ignored: the others still hear every change, nothing crashes', async () => {
    const prefix = `election/${name()}/`;
    const election = client.election(prefix.slice('election/'.length, -1), 5);
    await client.put(`${prefix}a`).value('A');
    const observer = await election.observe();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      observer.on('change', () => {
        throw new Error('a listener bug');
      });
      const changes: Array<string | undefined> = [];
      observer.on('change', v => changes.push(v));
      await client.put(`${prefix}b`).value('B');
      await client.delete().key(`${prefix}a`);
      await waitFor(() => changes.length >= 1, 2000);
      await client.delete().key(`${prefix}b`);
      await waitFor(() => changes.length >= 2, 2000);
      await sleep(50); // a rethrow in setImmediate would have happened by now
      expect(changes).toEqual(['B', undefined]);
      expect(observer.leader()).toBeUndefined();
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await observer.cancel();
    }
  });

  it('reports every leader of a rapid sequence A -> B -> C, in order', async () => {
    const prefix = `election/${name()}/`;
    const election = client.election(prefix.slice('election/'.length, -1), 5);
    await client.put(`${prefix}a`).value('A');
    const observer = await election.observe();
    expect(observer.leader()).toBe('A');
    const changes: Array<string | undefined> = [];
    observer.on('change', v => changes.push(v));
    const terms: ElectionLeader[] = [];
    (observer as OwnedElectionObserver).onLeader(l => terms.push(l));
    await client.put(`${prefix}b`).value('B');
    await client.put(`${prefix}c`).value('C');
    // One revision: A deleted (B leads)...
    await client.delete().key(`${prefix}a`);
    // ...then B deleted and D created in one txn (atomic: C leads, never "no leader").
    await client
      .if(`${prefix}b`, 'Version', '>', 0)
      .then(client.delete().key(`${prefix}b`), client.put(`${prefix}d`).value('D'))
      .commit();
    await client.delete().key(`${prefix}c`);
    await waitFor(() => changes.length >= 3, 2000).catch(() => undefined);
    await sleep(200);
    expect(changes).toEqual(['B', 'C', 'D']);
    expect(terms.map(t => t.value)).toEqual(['B', 'C', 'D']);
    // One report per revision; B and C one revision apart, the txn's revision after.
    const revs = terms.map(t => Number(t.revision));
    expect(revs[1]! - revs[0]!).toBe(1);
    expect(revs[2]! - revs[1]!).toBe(1);
    expect(terms.map(t => t.key)).toEqual([`${prefix}b`, `${prefix}c`, `${prefix}d`]);
    await observer.cancel();
    await client.delete().prefix(prefix);
  });

  it('on an empty election, observe() resolves with no leader, then reports the first', async () => {
    const election = client.election(name(), 5);
    const observer = await election.observe();
    expect(observer.leader()).toBeUndefined();
    expect(observer.hasLeader).toBe(false);
    const changes: Array<string | undefined> = [];
    observer.on('change', v => changes.push(v));
    const c = election.campaign('first');
    await c.wait();
    await waitFor(() => changes.length >= 1, 2000);
    expect(changes).toEqual(['first']);
    expect(observer.leader()).toBe('first');
    expect(observer.leader('buffer')).toEqual(Buffer.from('first'));
    expect(observer.hasLeader).toBe(true);
    await c.resign();
    await waitFor(() => changes.length >= 2, 2000);
    expect(changes).toEqual(['first', undefined]);
    await observer.cancel();
  });

  it('cancel() stops every event', async () => {
    const election = client.election(name(), 5);
    const observer = (await election.observe()) as OwnedElectionObserver;
    const events: unknown[] = [];
    observer.on('change', v => events.push(v));
    observer.onLeader(l => events.push(l));
    await observer.cancel();
    await observer.cancel(); // idempotent
    const c = election.campaign('late');
    await c.wait();
    await sleep(300);
    expect(events).toEqual([]);
    expect(observer.leader()).toBeUndefined();
    await c.resign();
    // cancelled before its first read answered: no event, no error
    const early = new (observer.constructor as any)((election as any).namespace);
    early.on('change', () => events.push('early'));
    await early.cancel();
    await sleep(200);
    expect(events).toEqual([]);
  });

  it("etcd3's own expectations hold (upstream election.test.ts, observe)", async () => {
    const election = client.election(name(), 1);
    const campaign = election.campaign('candidate');
    await campaign.wait();
    expect(await election.leader()).toBe('candidate');

    // emits when existing leader resigns and other in queue
    let observer = await election.observe();
    expect(observer.leader()).toBe('candidate');
    const changes: Array<string | undefined> = [];
    observer.on('change', v => changes.push(v));
    const campaign2 = election.campaign('candidate2');
    const campaign3 = election.campaign('candidate3');
    await waitFor(() => (campaign3 as any).keyRevision !== undefined, 2000);
    // fixes #176: a candidate that is not the leader resigns: no change
    await campaign3.resign();
    await sleep(300);
    expect(changes).toEqual([]);
    expect(observer.leader()).toBe('candidate');
    await campaign.resign();
    await waitFor(() => changes.length >= 1, 2000);
    expect(changes[0]).toBe('candidate2');
    await observer.cancel();

    // emits when leader steps down
    observer = await election.observe();
    expect(observer.leader()).toBe('candidate2');
    const down: Array<string | undefined> = [];
    observer.on('change', v => down.push(v));
    await campaign2.resign();
    await waitFor(() => down.length >= 1, 2000);
    expect(down).toEqual([undefined]);
    await observer.cancel();

    // emits when leader is newly elected; proclaim() is reported as in etcd3
    observer = await election.observe();
    expect(observer.leader()).toBeUndefined();
    const up: Array<string | undefined> = [];
    observer.on('change', v => up.push(v));
    const campaign4 = election.campaign('candidate');
    await campaign4.wait();
    await waitFor(() => up.length >= 1, 2000);
    expect(up).toEqual(['candidate']);
    await campaign4.proclaim('proclaimed');
    await waitFor(() => up.length >= 2, 2000);
    expect(up).toEqual(['candidate', 'proclaimed']);
    await campaign4.resign();
    await observer.cancel();
  });

  it("replaces etcd3's loop (shape check: etcd3's ElectionObserver still has a loop())", () => {
    expect(typeof (ElectionObserver.prototype as any).loop).toBe('function');
  });

  it('client close(): the observer emits ClientClosedError (when listened to) and stops', async () => {
    const other = createClient({ hosts: cluster.endpoints });
    const observer = await other.election(name(), 5).observe();
    const errors: unknown[] = [];
    observer.on('error', err => errors.push(err));
    const quiet = await other.election(name(), 5).observe(); // no error listener of its own
    quiet.removeAllListeners('error');
    await other.close();
    await waitFor(() => errors.length === 1, 10_000);
    expect(errors[0]).toBeInstanceOf(ClientClosedError);
    await sleep(200);
    expect(errors).toHaveLength(1);
    await observer.cancel();
    await quiet.cancel();
  }, 20_000);

  it('a compaction while the observer is cut off: gap, then the current leader', async () => {
    const proxy = await startProxy({ target: cluster.endpoints[0]! });
    const cut = createClient({ hosts: proxy.endpoint });
    try {
      const prefix = `election/${name()}/`;
      const election = cut.election(prefix.slice('election/'.length, -1), 5);
      await client.put(`${prefix}a`).value('A');
      const observer = (await election.observe()) as OwnedElectionObserver;
      expect(observer.leader()).toBe('A');
      const seen: string[] = [];
      let gap: ElectionGap | undefined;
      observer.on('change', v => seen.push(`change ${v}`));
      observer.onGap(g => {
        gap = g;
        seen.push('gap');
      });
      const terms: ElectionLeader[] = [];
      observer.onLeader(l => terms.push(l));
      const before = Number((await client.get(`${prefix}a`).exec()).header.revision);

      proxy.refuse(true);
      proxy.reset();
      await client.delete().key(`${prefix}a`);
      await client.put(`${prefix}b`).value('B');
      await client.delete().key(`${prefix}b`);
      await client.put(`${prefix}c`).value('C');
      const res = await client.get(`${prefix}c`).exec();
      const now = res.header.revision;
      await (client as any).kv.compact({ revision: now, physical: true });
      await sleep(300);
      expect(seen).toEqual([]);
      proxy.pass();
      proxy.refuse(false);

      await waitFor(() => seen.length >= 2, 20_000);
      expect(seen).toEqual(['gap', 'change C']);
      expect(Number(gap!.fromRevision)).toBe(before + 1);
      expect(Number(gap!.toRevision)).toBeGreaterThanOrEqual(Number(now));
      expect(gap!.reason).toMatch(/compact/);
      expect(terms.at(-1)!.createRevision).toBe(res.kvs[0]!.create_revision);
      expect(observer.leader()).toBe('C');
      await observer.cancel();
      await client.delete().prefix(prefix);
    } finally {
      await cut.close();
      await proxy.close();
    }
  }, 40_000);
});
