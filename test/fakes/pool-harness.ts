/**
 * Builds a {@link ResilientPool} over real grpc-js channels, the way `Etcd3` does,
 * for tests against {@link FakeEtcd} servers; plus small bounded helpers.
 */
import { credentials } from '@grpc/grpc-js';
import { afterEach, vi } from 'vitest';
import { keepaliveChannelOptions } from '../../lib/channel/keepalive';
import { resolveOptions, type ResilientEtcdOptions } from '../../lib/options';
import { Endpoint } from '../../lib/pool/endpoint';
import { ResilientPool } from '../../lib/pool/resilient-pool';
import { FakeEtcd } from './fake-etcd';

export function makePool(hosts: string[], options: ResilientEtcdOptions = {}): ResilientPool {
  const resolved = resolveOptions({ ...options, hosts });
  const channelOptions = keepaliveChannelOptions(resolved.keepalive, resolved.etcd3.grpcOptions);
  return new ResilientPool(
    resolved,
    url => new Endpoint(url, credentials.createInsecure(), channelOptions, resolved),
  );
}

/**
 * The real `setTimeout`, captured when this module loads, before any test fakes the
 * clock: the helpers below wait in real time even while a test runs on fake time.
 */
const realSetTimeout = globalThis.setTimeout;

/** Sleeps `ms` of real time, whether or not the clock is faked. */
export const realSleep = (ms: number) => new Promise<void>(r => realSetTimeout(r, ms));

/**
 * Polls `condition` every 5 ms of real time until it holds; throws after about
 * `timeoutMs` (default 3000) of polling. Works under {@link fakeClock}: it neither
 * reads the (possibly fake) clock nor uses the (possibly fake) `setTimeout`.
 */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    }
    await realSleep(5);
  }
}

/**
 * Fakes the clock for a test over real sockets: `setTimeout`, `setInterval` and `Date`
 * (so the pool's, cockatiel's and grpc-js' timers and deadlines) stand still until the
 * test moves them with {@link advance} or `vi.advanceTimersByTimeAsync`, while
 * `setImmediate`, `process.nextTick` and socket I/O run for real, so calls still travel
 * over gRPC. A call that settles while the clock stands still waited for no timer.
 * Undone after each test by {@link withCleanup} (or call `vi.useRealTimers()`).
 */
export function fakeClock(): void {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    // Timers armed before the clock was faked (keepalive, sweeps) can still be cleared.
    shouldClearNativeTimers: true,
  });
}

/**
 * Moves the fake clock forward `ms` in steps of `stepMs`, letting real I/O run after
 * each step, so what a timer starts (a hedge, a retry round) reaches the servers in
 * fake time about when it would in real time.
 */
export async function advance(ms: number, stepMs = 10): Promise<void> {
  for (let left = ms; left > 0; left -= stepMs) {
    await vi.advanceTimersByTimeAsync(Math.min(stepMs, left));
    await realSleep(1);
  }
}

/** The outcome of a promise, filled in when it settles. */
export interface Tracked<T> {
  settled: boolean;
  value?: T;
  error?: any;
}

/** Tracks `promise`: the returned object says whether and how it settled so far. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const out: Tracked<T> = { settled: false };
  promise.then(
    value => Object.assign(out, { settled: true, value }),
    error => Object.assign(out, { settled: true, error }),
  );
  return out;
}

/** Waits (real time, see {@link waitUntil}) until `call` settled; returns it. */
export async function settled<T>(
  call: Tracked<T>,
  what = 'the call settled',
  timeoutMs = 3000,
): Promise<Tracked<T>> {
  await waitUntil(() => call.settled, what, timeoutMs);
  return call;
}

/** Waits until every endpoint of `pool` is connected. */
export const allReady = (pool: ResilientPool) =>
  waitUntil(() => pool.endpoints.every(ep => ep.ready), 'every endpoint is READY');

/** Runs `fn`, returning its settled outcome and how long it took, in ms. */
export async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: any; ms: number }> {
  const start = Date.now();
  try {
    const value = await fn();
    return { value, ms: Date.now() - start };
  } catch (error) {
    return { error, ms: Date.now() - start };
  }
}

export const putReq = (key = 'k', value = 'v') => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
});
export const rangeReq = (key = 'k') => ({ key: Buffer.from(key) });

/**
 * Registers an `afterEach` that runs the returned `cleanup` functions, last first, and
 * returns `fakes(n)`, which starts n {@link FakeEtcd} servers closed by that cleanup.
 */
export function withCleanup(): {
  cleanup: Array<() => unknown>;
  fakes(n: number): Promise<FakeEtcd[]>;
} {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const fn of cleanup.splice(0).reverse()) {
      await fn();
    }
  });
  const fakes = async (n: number) => {
    const list = await Promise.all(Array.from({ length: n }, () => FakeEtcd.start()));
    cleanup.push(() => Promise.all(list.map(f => f.close())));
    return list;
  };
  return { cleanup, fakes };
}
