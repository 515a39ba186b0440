/**
 * Write-at-most-once: a write that may have reached a server is never sent again; a
 * write that provably never left this process is tried on another endpoint.
 * Real grpc-js channels against fake etcd servers (test/fakes/fake-etcd.ts).
 */
import { status as Status } from '@grpc/grpc-js';
import {
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCUnavailableError,
  GRPCUnknownError,
} from 'etcd3';
import { describe, expect, test, vi } from 'vitest';
import { retryWrites } from '../../lib/pool/call-kind';
import type { ResilientPool } from '../../lib/pool/resilient-pool';
import { freePort } from '../../lib/testing/ports';
import { FakeEtcd, HANG, unavailable, type Reply } from '../fakes/fake-etcd';
import {
  advance,
  allReady,
  fakeClock,
  makePool,
  putReq,
  realSleep,
  settled,
  timed,
  track,
  waitUntil,
  withCleanup,
} from '../fakes/pool-harness';
import { NoEndpointAvailableError } from '../../lib/errors';
import { startSilentServer, type SilentServer } from '../fakes/silent-server';

const { cleanup, fakes } = withCleanup();

function pool(hosts: string[], options = {}): ResilientPool {
  const p = makePool(hosts, {
    callTimeoutMs: 3000,
    attemptTimeoutMs: 300,
    connectTimeoutMs: 300,
    ...options,
  });
  cleanup.push(() => p.close());
  return p;
}

describe('a write that failed after it was sent is not retried', () => {
  test.each<[string, Reply, Function]>([
    ['UNAVAILABLE from etcd', unavailable('etcdserver: request timed out'), GRPCUnavailableError],
    ['UNAVAILABLE from the transport', unavailable('Connection dropped'), GRPCUnavailableError],
    ['INTERNAL', { code: Status.INTERNAL, details: 'boom' }, GRPCInternalError],
    ['UNKNOWN', { code: Status.UNKNOWN, details: 'who knows' }, GRPCUnknownError],
  ])('%s: the servers saw exactly one Put', async (_name, reply, errorClass) => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => reply);
    const p = pool([a.url, b.url]);
    await allReady(p); // both equally good: the first round starts with the first endpoint
    const { error } = await timed(() => p.exec('KV', 'put', putReq()));
    expect(error).toBeInstanceOf(errorClass);
    expect(a.count('KV.put')).toBe(1);
    expect(b.count('KV.put')).toBe(0);
  });

  test('a Put that hangs is not resent elsewhere: it fails at the deadline, sent once', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => HANG);
    const p = pool([a.url, b.url], { callTimeoutMs: 600 });
    await allReady(p);
    fakeClock();
    const put = track(p.exec('KV', 'put', putReq()));
    // A write is not cut short by the (300 ms) attempt timeout: it may still be applied.
    await advance(599);
    await realSleep(20); // let anything in flight arrive
    expect(put.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await settled(put, 'the put failed at its 600 ms deadline');
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(a.count('KV.put')).toBe(1);
    expect(b.count('KV.put')).toBe(0);
  });

  test.each([
    ['KV', 'deleteRange', { key: Buffer.from('k') }],
    ['KV', 'txn', { compare: [], success: [{ request_put: putReq() }], failure: [] }],
    ['KV', 'compact', { revision: '1' }],
    ['Lease', 'leaseGrant', { TTL: '5' }],
  ])('%s.%s is a write too: sent once', async (service, method, payload) => {
    const [a, b] = await fakes(2);
    const name = `${service}.${method}`;
    a.on(name, () => unavailable());
    b.on(name, () => ({ ok: {} }));
    const p = pool([a.url, b.url]);
    await allReady(p);
    const { error } = await timed(() => p.exec(service as any, method, payload));
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(a.count(name) + b.count(name)).toBe(1);
  });

  test('retryWrites() opts a write in: it is resent on the next endpoint', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => unavailable());
    const p = pool([a.url, b.url]);
    await allReady(p);
    await p.exec('KV', 'put', putReq(), retryWrites());
    expect(a.count('KV.put')).toBe(1);
    expect(b.count('KV.put')).toBe(1);
  });

  test('a read-only txn is retried like a read', async () => {
    const [a, b] = await fakes(2);
    const txn = {
      compare: [],
      success: [{ request_range: { key: Buffer.from('k') } }],
      failure: [],
    };
    a.on('KV.txn', () => unavailable());
    b.on('KV.txn', () => ({ ok: { succeeded: true, responses: [] } }));
    const p = pool([a.url, b.url]);
    await allReady(p);
    const res = await p.exec<{ succeeded: boolean }>('KV', 'txn', txn);
    expect(res.succeeded).toBe(true);
    expect([a.count('KV.txn'), b.count('KV.txn')]).toEqual([1, 1]);
  });
});

describe('a write that never reached a server is tried on another endpoint', () => {
  test('first endpoint refuses connections: the Put goes to the second at once, sent once', async () => {
    const dead = await freePort();
    const [b] = await fakes(1);
    // A refused connection is known from the socket: no waiting out connectTimeoutMs, so
    // the put succeeds with the clock stopped.
    fakeClock();
    const p = pool([`http://127.0.0.1:${dead}`, b.url], { connectTimeoutMs: 2000 });
    // Called at once: neither endpoint is connected yet, so the round starts with the first.
    const { error } = await settled(track(p.exec('KV', 'put', putReq())));
    expect(error).toBeUndefined();
    expect(b.count('KV.put')).toBe(1);
    expect(p.endpoints[0].lastError).toMatch(/ECONNREFUSED|Not connected/);
  });

  test('two endpoints refuse connections: the Put still reaches the third well within its deadline', async () => {
    const dead = await Promise.all([freePort(), freePort()]);
    const [c] = await fakes(1);
    fakeClock(); // the put succeeds with the clock stopped: no connect timeout, no backoff
    const p = pool([...dead.map(d => `http://127.0.0.1:${d}`), c.url], {
      callTimeoutMs: 3000,
      connectTimeoutMs: 2000,
    });
    const { error } = await settled(track(p.exec('KV', 'put', putReq())));
    expect(error).toBeUndefined();
    expect(c.count('KV.put')).toBe(1);
  });

  test('the only endpoint refuses connections: the Put fails at once, typed; once it is up, Puts work', async () => {
    const port = await freePort();
    const p = pool([`http://127.0.0.1:${port}`], { callTimeoutMs: 5000, connectTimeoutMs: 4000 });
    const { error } = await timed(() => p.exec('KV', 'put', putReq()));
    // A refused connection is definite: no waiting for the deadline or the connect timeout.
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(error).toBeInstanceOf(NoEndpointAvailableError);
    const late = await FakeEtcd.start(port);
    cleanup.push(() => late.close());
    // grpc-js reconnects after its backoff (at most 800 ms with our channel options).
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      ok = (await timed(() => p.exec('KV', 'put', putReq()))).error === undefined;
      if (!ok) await new Promise(r => setTimeout(r, 50));
    }
    expect(ok).toBe(true);
    expect(late.count('KV.put')).toBe(1);
  });

  test('first endpoint accepts TCP but never speaks HTTP/2: after connectTimeoutMs the Put goes on', async () => {
    const silent: SilentServer = await startSilentServer();
    cleanup.push(() => silent.close());
    const [b] = await fakes(1);
    fakeClock();
    const p = pool([silent.url, b.url], { connectTimeoutMs: 250 });
    const put = track(p.exec('KV', 'put', putReq()));
    await waitUntil(() => silent.accepted >= 1, 'the silent endpoint was dialled');
    await advance(249);
    await realSleep(20);
    expect(put.settled).toBe(false); // still waiting on the first endpoint
    expect(b.count('KV.put')).toBe(0);
    await vi.advanceTimersByTimeAsync(1); // connectTimeoutMs: the put goes on, clock stopped
    const { error } = await settled(put, 'the put went on after connectTimeoutMs');
    expect(error).toBeUndefined();
    expect(b.count('KV.put')).toBe(1);
    expect(p.endpoints[0].lastError).toMatch(/Not connected/);
  });

  test('a Put rejected for an expired auth token is resent with a fresh token (nothing was applied)', async () => {
    const [a] = await fakes(1);
    let puts = 0;
    let tokens = 0;
    a.on('Auth.authenticate', () => ({ ok: { token: `token-${++tokens}` } }));
    a.on('KV.put', () =>
      ++puts === 1
        ? { code: Status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' }
        : { ok: {} },
    );
    const p = pool([a.url], { auth: { username: 'root', password: 'pw' } });
    await p.exec('KV', 'put', putReq());
    expect(a.count('Auth.authenticate')).toBe(2);
    expect(a.count('KV.put')).toBe(2);
    expect(
      a.received.filter(r => r.method === 'KV.put').map(r => r.metadata.get('token')[0]),
    ).toEqual(['token-1', 'token-2']);
  });
});
