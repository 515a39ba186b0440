/**
 * The stream side of the pool (what etcd3's watch, lease keepalive, lock and election
 * use): withConnection() and markFailed().
 */
import { status as Status } from '@grpc/grpc-js';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { NoEndpointAvailableError } from '../../lib/errors';
import type { ResilientPool } from '../../lib/pool/resilient-pool';
import { FakeEtcd } from '../fakes/fake-etcd';
import {
  advance,
  allReady,
  fakeClock,
  makePool,
  realSleep,
  settled,
  timed,
  track,
  waitUntil,
} from '../fakes/pool-harness';
import { startSilentServer } from '../fakes/silent-server';
import { freePort } from '../../lib/testing/ports';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const fn of cleanup.splice(0).reverse()) {
    await fn();
  }
});

function pool(hosts: string[], options = {}): ResilientPool {
  const p = makePool(hosts, { connectTimeoutMs: 200, ...options });
  cleanup.push(() => p.close());
  return p;
}

const grpcError = (code: Status, details: string) =>
  Object.assign(new Error(`${code} ${Status[code]}: ${details}`), { code, details });

describe('withConnection', () => {
  test('hands a connected client; Watch and Lease streams require a leader, others do not', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const p = pool([fake.url]);
    const seen: Record<string, unknown[]> = {};
    for (const service of ['Watch', 'Lease', 'KV'] as const) {
      await p.withConnection(service, ({ client, metadata, resource }) => {
        expect(resource).toBe(p.endpoints[0]);
        expect(client.getChannel().getConnectivityState(false)).toBe(2 /* READY */);
        seen[service] = metadata.get('hasleader');
      });
    }
    expect(seen).toEqual({ Watch: ['true'], Lease: ['true'], KV: [] });
  });

  test('skips an endpoint that does not connect in time', async () => {
    const silent = await startSilentServer();
    const fake = await FakeEtcd.start();
    cleanup.push(
      () => silent.close(),
      () => fake.close(),
    );
    const p = pool([silent.url, fake.url]);
    const { value } = await timed(() => p.withConnection('Watch', ({ resource }) => resource.url));
    expect(value).toBe(fake.url);
  });

  test('skips an endpoint that refuses connections at once', async () => {
    const dead = await freePort();
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    // At once: with the clock stopped (connectTimeoutMs can never pass) it still settles.
    fakeClock();
    const p = pool([`http://127.0.0.1:${dead}`, fake.url], { connectTimeoutMs: 2000 });
    const { value } = await settled(
      track(p.withConnection('Watch', ({ resource }) => resource.url)),
    );
    expect(value).toBe(fake.url);
  });

  test('no endpoint connects: NoEndpointAvailableError with the cause', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    fakeClock();
    const p = pool([silent.url]);
    const call = track(p.withConnection('Watch', () => 'never'));
    await waitUntil(() => silent.accepted >= 1, 'the silent endpoint was dialled');
    await advance(199);
    await realSleep(20);
    expect(call.settled).toBe(false); // given its connectTimeoutMs (200 ms)...
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await settled(call, 'it gave up after connectTimeoutMs'); // ...not more
    expect(error).toBeInstanceOf(NoEndpointAvailableError);
    expect(String(error.lastCause)).toMatch(/Not connected/);
  });

  test('after close() a stream that etcd3 re-opens neither fails nor connects: it stays pending', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    fakeClock();
    const p = pool([fake.url]);
    p.close();
    let called = false;
    const stream = track(
      p.withConnection('Watch', () => {
        called = true;
      }),
    );
    await advance(60_000, 1000); // a minute: past every connect timeout and deadline
    await realSleep(50);
    expect(stream.settled).toBe(false);
    expect(called).toBe(false);
  });
});

describe('markFailed', () => {
  test('a broken stream counts against the endpoint and rebuilds its channels', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const p = pool([fake.url], { breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 } });
    await allReady(p);
    const ep = p.endpoints[0];
    const rebuilds: string[] = [];
    ep.onRebuild(e => rebuilds.push(e.reason));
    p.markFailed(ep, grpcError(Status.UNAVAILABLE, 'Connection dropped'));
    await waitUntil(() => rebuilds.length > 0, 'a rebuild');
    expect(rebuilds).toEqual(['stream unavailable']);
    expect(ep.lastError).toMatch(/Connection dropped/);
    await waitUntil(() => ep.breakerState === 'open', 'the breaker opened');
  });

  test('an UNAVAILABLE that etcd answered (no leader) is recorded, but keeps the channels and the breaker closed', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const p = pool([fake.url]);
    await allReady(p);
    const ep = p.endpoints[0];
    fakeClock();
    p.markFailed(ep, grpcError(Status.UNAVAILABLE, 'etcdserver: no leader'));
    await advance(10_000, 500); // past any rebuild backoff or breaker timer
    expect(ep.lastError).toMatch(/no leader/);
    expect(ep.rebuilds).toBe(0);
    expect(ep.breakerState).toBe('closed');
  });

  test('a stream we cancelled ourselves (rebuild, close) is not a failure', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const p = pool([fake.url], { breaker: { consecutiveFailures: 1 } });
    await allReady(p);
    const ep = p.endpoints[0];
    fakeClock();
    p.markFailed(ep, grpcError(Status.CANCELLED, 'Cancelled on client'));
    await advance(10_000, 500); // past any rebuild backoff or breaker timer
    expect(ep.lastError).toBeUndefined();
    expect(ep.breakerState).toBe('closed');
    expect(ep.rebuilds).toBe(0);
  });

  test('a request error on a stream (permission denied) does not count against the endpoint', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const p = pool([fake.url], { breaker: { consecutiveFailures: 1 } });
    await allReady(p);
    const ep = p.endpoints[0];
    fakeClock();
    p.markFailed(ep, grpcError(Status.PERMISSION_DENIED, 'etcdserver: permission denied'));
    await advance(10_000, 500); // past any rebuild backoff or breaker timer
    expect(ep.breakerState).toBe('closed');
    expect(ep.rebuilds).toBe(0);
  });
});
