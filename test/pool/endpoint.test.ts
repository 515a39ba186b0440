/**
 * Endpoint: channel generations and rebuilds, readiness waits and the breaker.
 * Timing is asserted under fake timers on {@link FakeChannel}s (the endpoint's
 * channel-factory seam); two tests keep real grpc-js channels to show what fake
 * channels cannot: a READY connection to a real server, and a rebuild that dials a
 * new TCP connection.
 */
import { connectivityState as S, credentials } from '@grpc/grpc-js';
import { ClientClosedError, GRPCUnavailableError } from 'etcd3';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { keepaliveChannelOptions } from '../../lib/channel/keepalive';
import { resolveOptions, type ResilientEtcdOptions } from '../../lib/options';
import { Endpoint, NotConnectedError } from '../../lib/pool/endpoint';
import { FakeChannel } from '../fakes/fake-channel';
import { FakeEtcd } from '../fakes/fake-etcd';
import { waitUntil } from '../fakes/pool-harness';
import { startSilentServer } from '../fakes/silent-server';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const fn of cleanup.splice(0).reverse()) {
    await fn();
  }
});

function endpoint(url: string, options: ResilientEtcdOptions = {}, channels?: FakeChannel[]) {
  const resolved = resolveOptions({ ...options, hosts: url });
  const ep = new Endpoint(
    url,
    credentials.createInsecure(),
    keepaliveChannelOptions(resolved.keepalive),
    resolved,
    channels && FakeChannel.factory(channels),
  );
  cleanup.push(() => ep.close());
  return ep;
}

/** An endpoint on fake channels under fake time; `kv(g)` is generation g's KV channel. */
function fakeEndpoint(options: ResilientEtcdOptions = {}) {
  vi.useFakeTimers();
  vi.spyOn(Math, 'random').mockReturnValue(0.5);
  const channels: FakeChannel[] = [];
  const ep = endpoint('http://fake:2379', options, channels);
  const kv = (generation: number) => {
    const channel = channels.find(
      c => c.options['etcd3-resilient.generation'] === generation && !c.closed,
    );
    if (!channel) {
      throw new Error(`no open channel of generation ${generation}`);
    }
    return channel;
  };
  const rebuilds: string[] = [];
  ep.onRebuild(e => rebuilds.push(e.reason));
  return { ep, channels, kv, rebuilds };
}

/** A call that was sent and then lost with its connection: its outcome is unknown. */
const dropped = () => new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped');

describe('Endpoint on real channels', () => {
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
});

describe('Endpoint rebuilds (fake channels, fake time)', () => {
  test('dials at once: the KV channel is asked to connect and its changes are published', () => {
    const { ep, kv } = fakeEndpoint();
    const seen: string[] = [];
    ep.onStateChange(e => seen.push(`${e.from}->${e.to}`));
    expect(kv(0).connectRequests).toBeGreaterThanOrEqual(1);
    expect(ep.channelState).toBe('CONNECTING');
    kv(0).transitionToState(S.READY);
    expect(ep.ready).toBe(true);
    expect(seen).toEqual(['CONNECTING->READY']);
  });

  test('rebuilds of a failing endpoint are spaced by the jittered backoff, never a storm', async () => {
    const { ep, kv, rebuilds } = fakeEndpoint({
      rebuild: { transientFailureMs: 20, initialBackoffMs: 100, maxBackoffMs: 300 },
    });
    const at: number[] = [];
    const t0 = Date.now();
    // Every connection attempt is refused at once.
    ep.onRebuild(e => {
      at.push(Date.now() - t0);
      kv(e.generation).transitionToState(S.TRANSIENT_FAILURE);
    });
    kv(0).transitionToState(S.TRANSIENT_FAILURE);
    await vi.advanceTimersByTimeAsync(1500);
    // The first rebuild follows the 20 ms in TRANSIENT_FAILURE; each next one waits for
    // cockatiel's decorrelated jitter (Math.random() = 0.5, initial 100, max 300):
    // about 90, 109, 204, then 300 ms after the previous rebuild.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(at[0]).toBe(20);
    const expected = [90, 109, 204, 300, 300, 300];
    expect(gaps.length).toBeGreaterThanOrEqual(expected.length);
    gaps.forEach((gap, i) => expect(Math.abs(gap - (expected[i] ?? 300))).toBeLessThanOrEqual(1));
    expect(rebuilds.every(r => r === 'KV transient-failure')).toBe(true);
    expect(ep.generation).toBe(rebuilds.length);
  });

  test('a channel that recovers (READY) before a scheduled rebuild keeps running: the rebuild is cancelled', async () => {
    const { ep, kv, rebuilds } = fakeEndpoint();
    ep.requestRebuild('hang'); // now: generation 1; the next one waits for the backoff
    kv(1).transitionToState(S.TRANSIENT_FAILURE);
    ep.requestRebuild('call unavailable'); // scheduled
    kv(1).transitionToState(S.CONNECTING);
    kv(1).transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rebuilds).toEqual(['hang']);
    expect(kv(1).closed).toBe(false);
    expect(ep.ready).toBe(true);
  });

  test('a rebuild cancels the old generation calls and streams, but leaves sent writes running', () => {
    const { ep } = fakeEndpoint();
    const cancelled: string[] = [];
    const item = (name: string) => ({
      cancel: () => cancelled.push(name),
      once: () => undefined,
    });
    ep.trackCall(item('read'));
    ep.trackCall(item('sent write'), true);
    ep.track(item('stream'));
    ep.requestRebuild('hang');
    expect(cancelled.sort()).toEqual(['read', 'stream']);
    ep.close();
    expect(cancelled).toContain('sent write');
  });
});

describe('Endpoint.waitReady (fake channels, fake time)', () => {
  test('rejects with NotConnectedError (never sent) exactly at its timeout', async () => {
    const { ep } = fakeEndpoint({ connectTimeoutMs: 10_000 });
    let error: any;
    const settled = ep.waitReady('KV', 200).catch(e => (error = e));
    await vi.advanceTimersByTimeAsync(199);
    expect(error).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    await settled;
    expect(error).toBeInstanceOf(NotConnectedError);
    expect(error.neverSent).toBe(true);
    expect(error.message).toContain('http://fake:2379');
  });

  test('resolves when the channel turns READY', async () => {
    const { ep, kv } = fakeEndpoint();
    const ready = ep.waitReady('KV', 1000);
    kv(0).transitionToState(S.READY);
    await expect(ready).resolves.toBe(ep.client('KV'));
  });

  test('after close(): rejects without waiting, and no rebuild happens', async () => {
    const { ep, rebuilds } = fakeEndpoint({ connectTimeoutMs: 50 });
    ep.close();
    let error: any;
    await ep.waitReady('KV', 5000).catch(e => (error = e));
    expect([NotConnectedError, ClientClosedError].some(c => error instanceof c)).toBe(true);
    ep.requestRebuild('test');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rebuilds).toEqual([]);
  });
});

describe('Endpoint breaker and fresh connections (fake channels, fake time)', () => {
  test('a breaker opened by dropped (maybe sent) calls lets one call through once a rebuilt connection is READY', async () => {
    const { ep, kv } = fakeEndpoint({ breaker: { consecutiveFailures: 3, halfOpenAfterMs: 2000 } });
    kv(0).transitionToState(S.READY);
    for (let i = 0; i < 3; i++) ep.countFailure(dropped());
    await vi.advanceTimersByTimeAsync(0);
    expect(ep.breakerState).toBe('open');
    expect(ep.available).toBe(false);
    ep.requestRebuild('hang'); // the pool's hang probe found the connection dead
    kv(1).transitionToState(S.READY); // a fresh handshake: the endpoint is reachable
    expect(ep.available).toBe(true);
    await expect(ep.breaker.execute(() => 'answered')).resolves.toBe('answered');
    expect(ep.breakerState).toBe('closed');
  });

  test('a READY of the same connection does not release it, and a flapping endpoint gets one early probe only', async () => {
    const { ep, kv } = fakeEndpoint({ breaker: { consecutiveFailures: 3, halfOpenAfterMs: 2000 } });
    kv(0).transitionToState(S.READY);
    for (let i = 0; i < 3; i++) ep.countFailure(dropped());
    await vi.advanceTimersByTimeAsync(0);
    // grpc-js reconnecting the same channel is no news about the failed calls.
    kv(0).transitionToState(S.IDLE);
    kv(0).transitionToState(S.CONNECTING);
    kv(0).transitionToState(S.READY);
    expect(ep.available).toBe(false);
    // A rebuilt connection comes up: one probe goes through, and fails.
    ep.requestRebuild('hang');
    kv(1).transitionToState(S.READY);
    expect(ep.available).toBe(true);
    ep.countFailure(dropped());
    await vi.advanceTimersByTimeAsync(0);
    expect(ep.breakerState).toBe('open');
    // The next fresh connection is no reason to skip the half-open delay again.
    await vi.advanceTimersByTimeAsync(1000);
    ep.requestRebuild('hang');
    kv(2).transitionToState(S.READY);
    expect(ep.available).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ep.available).toBe(true);
  });

  test('a breaker opened because the endpoint was unreachable is released by any READY', async () => {
    const { ep, kv } = fakeEndpoint({ breaker: { consecutiveFailures: 3, halfOpenAfterMs: 2000 } });
    for (let i = 0; i < 3; i++) ep.countFailure(new NotConnectedError(ep.url, 'refused'));
    await vi.advanceTimersByTimeAsync(0);
    expect(ep.available).toBe(false);
    kv(0).transitionToState(S.READY);
    expect(ep.available).toBe(true);
  });
});

describe('Endpoint overtakes a stuck connection attempt (fake channels, fake time)', () => {
  /**
   * A fake endpoint whose fresh connections see `path`: `silent` ones wait out their
   * timeout (a blackhole, or a link slower than the timeout), others settle in 5 ms.
   */
  function withPath() {
    const setup = fakeEndpoint(); // connectTimeoutMs 2000: probes every 500 ms
    const path = { answer: 'silent' as 'answered' | 'refused' | 'silent' };
    const probes = { started: 0, inFlight: 0, maxInFlight: 0 };
    vi.spyOn(setup.ep, 'freshHandshake').mockImplementation(timeoutMs => {
      probes.started++;
      probes.maxInFlight = Math.max(probes.maxInFlight, ++probes.inFlight);
      const answer = path.answer;
      return new Promise(resolve =>
        setTimeout(
          () => {
            probes.inFlight--;
            resolve(answer);
          },
          answer === 'silent' ? timeoutMs : 5,
        ),
      );
    });
    const at: Array<[number, string]> = [];
    const t0 = Date.now();
    setup.ep.onRebuild(e => at.push([Date.now() - t0, e.reason]));
    return { ...setup, path, probes, at };
  }

  test('a handshake started into a dead path is rebuilt once a fresh connection gets through, not at its doubled limit', async () => {
    const { ep, kv, path, at } = withPath();
    kv(0).transitionToState(S.READY);
    // The path dies; the hang probe rebuilds (generation 1 dials into the blackhole).
    ep.requestRebuild('hang');
    await vi.advanceTimersByTimeAsync(2000); // connect timeout: generation 2, limit 4 s
    expect(at).toEqual([
      [0, 'hang'],
      [2000, 'KV connect-timeout'],
    ]);
    await vi.advanceTimersByTimeAsync(1100);
    path.answer = 'answered'; // healed at 3100; generation 2's handshake stays silent
    await vi.advanceTimersByTimeAsync(600);
    // The probe of 3000 is silent until 3500; the one of 3500 is answered at 3505.
    expect(at[2]).toEqual([3505, 'KV connect-overtaken']);
    expect(ep.health().lastError).toMatch(/silent while a fresh connection got through/);
    kv(3).transitionToState(S.READY);
    expect(ep.ready).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at).toHaveLength(3);
  });

  test('a slow link (fresh connections silent too) keeps its stretched limit: the slow handshake completes', async () => {
    const { ep, kv, at } = withPath();
    kv(0).transitionToState(S.READY);
    ep.requestRebuild('hang');
    await vi.advanceTimersByTimeAsync(2000); // a 3 s handshake misses the first 2 s limit
    await vi.advanceTimersByTimeAsync(3000); // ...and makes the doubled one
    kv(2).transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at).toEqual([
      [0, 'hang'],
      [2000, 'KV connect-timeout'],
    ]);
    expect(ep.ready).toBe(true);
  });

  test('no probe storm: during a 10 s outage at most one probe per 500 ms, one at a time', async () => {
    const { ep, probes, at } = withPath();
    await vi.advanceTimersByTimeAsync(10_000); // never READY; every generation hangs
    expect(probes.started).toBeGreaterThan(0);
    expect(probes.started).toBeLessThanOrEqual(10_000 / 500);
    expect(probes.maxInFlight).toBe(1);
    // Only the connect limits (2 s, then 4 s) rebuild: silent probes change nothing.
    expect(at).toEqual([
      [2000, 'KV connect-timeout'],
      [6000, 'KV connect-timeout'],
    ]);
    ep.close();
    const after = probes.started;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probes.started).toBe(after);
  });

  test('a healthy handshake is never probed', async () => {
    const { ep, kv, probes } = withPath();
    await vi.advanceTimersByTimeAsync(499);
    kv(0).transitionToState(S.READY);
    ep.requestRebuild('hang');
    kv(1).transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probes.started).toBe(0);
  });
});
