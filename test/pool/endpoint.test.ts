/**
 * Endpoint channel rebuilds, on real grpc-js channels: a channel stuck CONNECTING or
 * in TRANSIENT_FAILURE is closed and dialled afresh, and rebuilds of one endpoint are
 * spaced by jittered exponential backoff.
 */
import { credentials } from '@grpc/grpc-js';
import { ClientClosedError } from 'etcd3';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { keepaliveChannelOptions } from '../../lib/channel/keepalive';
import { resolveOptions, type ResilientEtcdOptions } from '../../lib/options';
import { Endpoint, NotConnectedError } from '../../lib/pool/endpoint';
import { freePort } from '../../lib/testing/ports';
import { FakeEtcd } from '../fakes/fake-etcd';
import { timed, waitUntil } from '../fakes/pool-harness';
import { startSilentServer } from '../fakes/silent-server';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const fn of cleanup.splice(0).reverse()) {
    await fn();
  }
});

function endpoint(url: string, options: ResilientEtcdOptions = {}): Endpoint {
  const resolved = resolveOptions({ ...options, hosts: url });
  const ep = new Endpoint(
    url,
    credentials.createInsecure(),
    keepaliveChannelOptions(resolved.keepalive),
    resolved,
  );
  cleanup.push(() => ep.close());
  return ep;
}

describe('Endpoint', () => {
  test('dials at once and reports READY', async () => {
    const fake = await FakeEtcd.start();
    cleanup.push(() => fake.close());
    const ep = endpoint(fake.url);
    await waitUntil(() => ep.ready, 'READY');
    expect(ep.health()).toMatchObject({
      endpoint: fake.url,
      channelState: 'READY',
      breakerState: 'closed',
      generation: 0,
    });
  });

  test('a channel stuck CONNECTING past connectTimeoutMs is rebuilt on a new TCP connection', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const ep = endpoint(silent.url, { connectTimeoutMs: 150 });
    const reasons: string[] = [];
    ep.onRebuild(e => reasons.push(e.reason));
    await waitUntil(() => reasons.length >= 1, 'a rebuild');
    expect(reasons[0]).toBe('KV connect-timeout');
    expect(ep.generation).toBeGreaterThanOrEqual(1);
    expect(ep.health().lastError).toMatch(/Not connected/);
    await waitUntil(() => silent.accepted >= 2, 'the new generation dialled afresh');
  });

  test('rebuilds of a failing endpoint are spaced by the jittered backoff, never a storm', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const port = await freePort(); // nothing listens: every connect is refused
    const ep = endpoint(`http://127.0.0.1:${port}`, {
      connectTimeoutMs: 50,
      rebuild: { transientFailureMs: 20, initialBackoffMs: 100, maxBackoffMs: 300 },
    });
    const at: number[] = [];
    ep.onRebuild(() => at.push(Date.now()));
    await new Promise(r => setTimeout(r, 1500));
    // cockatiel's decorrelated jitter with Math.random() = 0.5, initial 100, max 300:
    // ~90, ~109, ~204, 300, 300... ms. The first rebuild is immediate; each next one
    // waits at least its delay after the previous one.
    const delays = [109, 204, 300, 300, 300, 300, 300];
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    const why = `rebuild gaps ${JSON.stringify(gaps)} ms`;
    expect(at.length, why).toBeGreaterThanOrEqual(3);
    expect(at.length, why).toBeLessThanOrEqual(1 + 7);
    gaps.forEach((gap, i) => expect(gap, why).toBeGreaterThanOrEqual(delays[i] - 5));
  });

  test('waitReady rejects with NotConnectedError (never sent) after its timeout', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const ep = endpoint(silent.url, { connectTimeoutMs: 10_000 });
    const { error, ms } = await timed(() => ep.waitReady('KV', 200));
    expect(error).toBeInstanceOf(NotConnectedError);
    expect(error.neverSent).toBe(true);
    expect(error.message).toContain(silent.url);
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(200 + 500);
  });

  test('after close(): waitReady rejects at once and no rebuild happens', async () => {
    const silent = await startSilentServer();
    cleanup.push(() => silent.close());
    const ep = endpoint(silent.url, { connectTimeoutMs: 50 });
    const rebuilds: unknown[] = [];
    ep.onRebuild(e => rebuilds.push(e));
    ep.close();
    const { error, ms } = await timed(async () => ep.waitReady('KV', 5000));
    expect([NotConnectedError, ClientClosedError].some(c => error instanceof c)).toBe(true);
    expect(ms).toBeLessThan(100);
    ep.requestRebuild('test');
    await new Promise(r => setTimeout(r, 200));
    expect(rebuilds).toEqual([]);
  });
});
