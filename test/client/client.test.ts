/**
 * Our `Etcd3` as a drop-in: etcd3's API over our pool, events, health(), close().
 * Against fake etcd gRPC servers (test/fakes/fake-etcd.ts).
 */
import { status as Status } from '@grpc/grpc-js';
import { ClientClosedError, Etcd3 as BaseEtcd3, GRPCUnavailableError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import { Etcd3, createClient } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { retryWrites } from '../../lib/pool/call-kind';
import { unavailable } from '../fakes/fake-etcd';
import { ready, withClients } from '../fakes/client-harness';
import { fakeClock, settled, timed, track, waitUntil } from '../fakes/pool-harness';
import { startSilentServer } from '../fakes/silent-server';

const { cleanup, fakes, client } = withClients();

describe('createClient', () => {
  test("is an etcd3 Etcd3, running etcd3's builders through our pool", async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    expect(c).toBeInstanceOf(BaseEtcd3);
    expect(c).toBeInstanceOf(Etcd3);
    await c.put('greeting').value('hello');
    expect(await c.get('greeting').string()).toBe('hello');
    expect(await c.get('missing').string()).toBeNull();
    expect(a.count('KV.put')).toBe(1);
    expect(a.count('KV.range')).toBe(2);
  });

  test('namespaces work over it', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    await c.namespace('app/').put('k').value('v');
    expect(Buffer.from(a.received[0].request.key).toString()).toBe('app/k');
  });

  test('rejects a bad option before any connection is made', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    expect(() => createClient({ hosts: silent.url, callTimeoutMs: -1 })).toThrow(
      InvalidOptionError,
    );
    await new Promise(r => setTimeout(r, 50));
    expect(silent.accepted).toBe(0);
  });

  test("etcd3's mock() still replaces every call", async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    const calls: string[] = [];
    c.mock({
      exec: async (service: string, method: string) => (
        calls.push(`${service}.${method}`),
        { kvs: [] }
      ),
    } as any);
    expect(await c.get('k').string()).toBeNull();
    c.unmock();
    expect(calls).toEqual(['KV.range']);
    expect(a.count('KV.range')).toBe(0);
  });

  test('retryWrites() through a builder: a put is resent on the next endpoint', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => unavailable());
    const c = client({ hosts: [a.url, b.url] });
    await ready(c);
    await c.put('k').value('v').options(retryWrites());
    expect([a.count('KV.put'), b.count('KV.put')]).toEqual([1, 1]);
  });
});

describe('events', () => {
  test('onStateChange reports each endpoint connecting', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    const seen: string[] = [];
    c.onStateChange(e => seen.push(`${e.endpoint} ${e.from} -> ${e.to}`));
    await ready(c);
    expect(seen).toContain(`${a.url} CONNECTING -> READY`);
  });

  test('onCall reports outcome, endpoint and duration of every unary call', async () => {
    const [a] = await fakes(1);
    a.on('KV.deleteRange', () => unavailable());
    const c = client({ hosts: a.url });
    const calls: Array<{ method: string; code: string; endpoint?: string; durationMs: number }> =
      [];
    c.onCall(e => calls.push(e));
    await c.put('k').value('v');
    await timed(() => c.delete().key('k').exec());
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ method: 'put', code: 'OK', endpoint: a.url });
    expect(calls[1]).toMatchObject({ method: 'deleteRange', code: 'UNAVAILABLE', endpoint: a.url });
    expect(calls.every(e => e.durationMs >= 0 && e.durationMs < 3000)).toBe(true);
  });

  test('onRetry fires before each retry round; onBreakerStateChange when a breaker opens', async () => {
    const [a] = await fakes(1);
    // An overloaded endpoint: counts against its breaker, and does not ask for a rebuild.
    a.on('KV.range', () => ({ code: Status.RESOURCE_EXHAUSTED, details: 'too many requests' }));
    const c = client({
      hosts: a.url,
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 5 },
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    const retries: Array<{ method: string; attempt: number }> = [];
    const breakers: string[] = [];
    c.onRetry(e => retries.push({ method: e.method, attempt: e.attempt }));
    c.onBreakerStateChange(e => breakers.push(`${e.endpoint} ${e.state}`));
    await ready(c);
    const { error } = await timed(() => c.get('k').string());
    expect(error).toBeDefined();
    // Round 1 fails, retry 1; round 2 fails and opens the breaker, retry 2; round 3
    // finds no endpoint whose breaker lets a call through and ends the call.
    expect(retries).toEqual([
      { method: 'range', attempt: 1 },
      { method: 'range', attempt: 2 },
    ]);
    expect(breakers).toEqual([`${a.url} open`]);
    expect(a.count('KV.range')).toBe(2);
    expect(c.health().endpoints[0].breakerState).toBe('open');
    expect(c.health().healthy).toBe(false);
  });
});

describe('health()', () => {
  test('one entry per endpoint, healthy once one is connected; no secrets', async () => {
    const [a] = await fakes(1);
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const password = 'pa55-w0rd-secret';
    const c = client({ hosts: [a.url, silent.url], auth: { username: 'root', password } });
    await waitUntil(() => c.health().healthy, 'healthy');
    await c.get('k').string(); // fetches a token too
    const h = c.health();
    expect(h.closed).toBe(false);
    expect(h.endpoints.map(e => e.endpoint)).toEqual([a.url, silent.url]);
    expect(h.endpoints[0]).toMatchObject({
      channelState: 'READY',
      breakerState: 'closed',
      generation: 0,
      rebuilds: 0,
    });
    expect(h.endpoints[1].channelState).not.toBe('READY');
    const text = JSON.stringify(h);
    expect(text).not.toContain(password);
    expect(text).not.toContain('fake-token');
  });
});

describe('close()', () => {
  test('is idempotent (same promise), marks health closed, and later calls fail with ClientClosedError', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    await c.put('k').value('v');
    const first = c.close();
    expect(c.close()).toBe(first);
    await first;
    expect(c.health()).toMatchObject({ closed: true, healthy: false });
    const sent = a.received.length;
    await expect(c.get('k').string()).rejects.toBeInstanceOf(ClientClosedError);
    await expect(c.put('k').value('v')).rejects.toBeInstanceOf(ClientClosedError);
    expect(a.received.length).toBe(sent);
  });

  test('resolves promptly even with every endpoint unreachable', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const c = client({ hosts: silent.url, closeTimeoutMs: 500 });
    // Nothing in flight: it settles with the clock stopped, so it did not wait for the
    // unreachable endpoint (nor even for closeTimeoutMs).
    fakeClock();
    await settled(track(c.close()), 'close() resolved');
  });

  test('errors from etcd are passed through as etcd3 classes, not wrapped', async () => {
    const [a] = await fakes(1);
    a.on('KV.put', () => unavailable('etcdserver: request timed out'));
    const c = client({ hosts: a.url });
    const { error } = await timed(() => c.put('k').value('v').exec());
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(error.message).toMatch(/request timed out/);
  });
});
