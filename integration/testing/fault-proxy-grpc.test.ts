/**
 * Every fault proxy mode shown on a real gRPC connection (the `etcd3` client)
 * to a real etcd. Each call carries a deadline, so nothing can hang.
 */
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';
import { expectNothingLeft, rawClient, timed, within } from './helpers';

let etcd: EtcdCluster;
let other: EtcdCluster;
let proxy: FaultProxy;
const clients: Etcd3[] = [];

/** A fresh client (own channels, so a new TCP connection) through the proxy. */
function client(): Etcd3 {
  const c = rawClient(proxy.endpoint);
  clients.push(c);
  return c;
}

/** A client whose connection is already established. */
async function warmClient(): Promise<Etcd3> {
  const c = client();
  expect(await c.get('k').options(within(5000)).string()).toBe('v');
  return c;
}

beforeAll(async () => {
  [etcd, other] = await Promise.all([startEtcd(), startEtcd()]);
  await rawClient(etcd.endpoints).put('k').value('v').options(within(5000));
  await rawClient(other.endpoints).put('k').value('other').options(within(5000));
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), other?.stop()]);
  expectNothingLeft();
});
beforeEach(async () => {
  proxy = await startProxy({ target: etcd.endpoints[0]! });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await proxy.close();
});

describe('fault proxy on a real gRPC connection', () => {
  test('pass: calls go through and the connection is counted', async () => {
    const c = client();
    await c.put('p').value('1').options(within(5000));
    expect(await c.get('p').options(within(5000)).string()).toBe('1');
    expect(proxy.connectionCount).toBeGreaterThanOrEqual(1);
  });

  test.each(['both', 'toServer', 'toClient'] as const)(
    "blackhole('%s'): a call on the open connection hits its deadline while the socket stays open",
    async direction => {
      const c = await warmClient();
      const open = proxy.connectionCount;
      proxy.blackhole(direction);
      const r = await timed(c.get('k').options(within(500)).string());
      expect(r.error).toBeInstanceOf(GRPCDeadlineExceededError);
      expect(r.ms).toBeGreaterThanOrEqual(490);
      expect(proxy.connectionCount).toBe(open);
    },
  );

  test('half-open flush: existing connection blackholed, a new client works', async () => {
    const old = await warmClient();
    proxy.blackhole('both');
    const fresh = client();
    expect(await fresh.get('k').options(within(5000)).string()).toBe('v');
    const r = await timed(old.get('k').options(within(300)).string());
    expect(r.error).toBeInstanceOf(GRPCDeadlineExceededError);
  });

  test('dead path (blackhole + blackholeNew): a new client times out too; pass() heals new clients', async () => {
    await warmClient();
    proxy.blackhole();
    proxy.blackholeNew(true);
    const r = await timed(client().get('k').options(within(700)).string());
    expect(r.error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(r.ms).toBeGreaterThanOrEqual(690);
    proxy.pass();
    expect(await client().get('k').options(within(5000)).string()).toBe('v');
  });

  test('refuse: a new client fails fast with UNAVAILABLE; refuse(false) lets it connect', async () => {
    proxy.refuse(true);
    const r = await timed(client().get('k').options(within(5000)).string());
    expect(r.error).toBeInstanceOf(GRPCUnavailableError);
    expect(r.ms).toBeLessThan(5000);
    proxy.refuse(false);
    expect(await client().get('k').options(within(5000)).string()).toBe('v');
  });

  test('reset: an in-flight call fails with UNAVAILABLE; the client reconnects afterwards', async () => {
    const c = await warmClient();
    proxy.delay(2000); // keeps the next call in flight
    const inFlight = timed(c.get('k').options(within(10_000)).string());
    await new Promise(resolve => setTimeout(resolve, 200));
    proxy.reset();
    const r = await inFlight;
    expect(r.error).toBeInstanceOf(GRPCUnavailableError);
    expect(r.ms).toBeLessThan(2000);
    proxy.pass();
    expect(await c.get('k').options(within(5000)).string()).toBe('v');
  });

  test('delay: a round trip takes at least twice the added latency', async () => {
    const c = await warmClient();
    const ms = 150;
    proxy.delay(ms);
    const r = await timed(c.get('k').options(within(5000)).string());
    expect(r.value).toBe('v');
    // Request and response are each held `ms` (Date.now() granularity: allow 1 ms each).
    expect(r.ms).toBeGreaterThanOrEqual(2 * ms - 2);
    proxy.delay(0);
  });

  test('retarget: new clients reach the new target, open connections keep the old one', async () => {
    const old = await warmClient();
    proxy.retarget(other.endpoints[0]!);
    expect(await client().get('k').options(within(5000)).string()).toBe('other');
    expect(await old.get('k').options(within(5000)).string()).toBe('v');
  });

  test('etcd killed behind a passing proxy: the client sees UNAVAILABLE, not a hang', async () => {
    await using solo = await startEtcd();
    proxy.retarget(solo.endpoints[0]!);
    const c = client();
    await c.put('x').value('y').options(within(5000));
    await solo.member(0).kill();
    const r = await timed(c.get('x').options(within(5000)).string());
    expect(r.error).toBeInstanceOf(GRPCUnavailableError);
  });
});
