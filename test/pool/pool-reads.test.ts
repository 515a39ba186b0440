/**
 * Reads fail over: after an attempt timeout (a hang) or a transient error a read goes
 * to the next endpoint in the same round; a request error is not retried; a hang
 * makes the pool probe the endpoint and rebuild its channels if it does not answer.
 */
import { status as Status } from '@grpc/grpc-js';
import { EtcdPermissionDeniedError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import type { ResilientPool } from '../../lib/pool/resilient-pool';
import { HANG, unavailable } from '../fakes/fake-etcd';
import {
  advance,
  allReady,
  fakeClock,
  makePool,
  rangeReq,
  settled,
  timed,
  track,
  waitUntil,
  withCleanup,
} from '../fakes/pool-harness';

const { cleanup, fakes } = withCleanup();

function pool(hosts: string[], options = {}): ResilientPool {
  const p = makePool(hosts, { callTimeoutMs: 3000, attemptTimeoutMs: 200, ...options });
  cleanup.push(() => p.close());
  return p;
}

const found = (value: string) => ({
  ok: { header: {}, kvs: [{ key: Buffer.from('k'), value: Buffer.from(value) }], count: '1' },
});

describe('reads', () => {
  test('a read that hangs is hedged to the next endpoint long before attemptTimeoutMs, in the same round', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => HANG);
    b.on('KV.range', () => found('from-b'));
    const hedges: Array<{ forced: boolean }> = [];
    const debug = (o: { forced?: boolean }, msg?: string) =>
      msg === 'hedging a slow read' && hedges.push({ forced: o.forced === true });
    const logger: any = {
      level: 'debug',
      debug,
      info() {},
      warn() {},
      error() {},
      fatal() {},
      trace() {},
      silent() {},
    };
    logger.child = () => logger;
    const p = pool([a.url, b.url], { logger });
    const retries: unknown[] = [];
    p.onRetry(e => retries.push(e));
    await allReady(p);
    const { value, error } = await timed(() => p.exec<any>('KV', 'range', rangeReq()));
    expect(error).toBeUndefined();
    expect(value.kvs[0].value.toString()).toBe('from-b');
    expect([a.count('KV.range'), b.count('KV.range')]).toEqual([1, 1]);
    // Hedged after the hedge delay (100 ms until round trips were measured), within the
    // budget: not forced at attemptTimeoutMs (200 ms here).
    expect(hedges).toEqual([{ forced: false }]);
    expect(retries).toEqual([]); // hedging within a round is not a retry round
    // The hedged endpoint is probed (and found alive: the fake answers status calls).
    await waitUntil(() => a.count('Maintenance.status') === 1, 'the slow endpoint was probed');
  });

  test('after a hang the endpoint is probed; it answers, so its channels are kept', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => HANG);
    const p = pool([a.url, b.url]);
    await allReady(p);
    fakeClock();
    const read = track(p.exec('KV', 'range', rangeReq()));
    await advance(400); // past the hedge and force delays (attemptTimeoutMs 200)
    expect((await settled(read)).error).toBeUndefined();
    await waitUntil(() => a.count('Maintenance.status') === 1, 'the hung endpoint was probed');
    await advance(3500); // past the probe's patience (callTimeoutMs 3000)
    expect(p.endpoints[0].generation).toBe(0);
    expect(p.endpoints[0].rebuilds).toBe(0);
  });

  test('after a hang the endpoint is probed; it does not answer either, so it is rebuilt', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => HANG).on('Maintenance.status', () => HANG);
    const p = pool([a.url, b.url]);
    const rebuilds: string[] = [];
    p.endpoints[0].onRebuild(e => rebuilds.push(e.reason));
    await allReady(p);
    fakeClock();
    const read = track(p.exec('KV', 'range', rangeReq()));
    await advance(400); // past the hedge and force delays (attemptTimeoutMs 200)
    expect((await settled(read)).error).toBeUndefined();
    await waitUntil(() => a.count('Maintenance.status') >= 1, 'the hung endpoint was probed');
    expect(rebuilds).toEqual([]); // given the patience of a call (callTimeoutMs 3000) first
    await advance(3500);
    await waitUntil(() => rebuilds.length > 0, 'the hung endpoint was rebuilt');
    expect(rebuilds).toEqual(['hang']);
    expect(p.endpoints[0].generation).toBe(1);
    expect(p.endpoints[1].rebuilds).toBe(0);
  });

  test('a read failing with UNAVAILABLE goes to the next endpoint at once', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => unavailable('etcdserver: leader changed'));
    b.on('KV.range', () => found('from-b'));
    const p = pool([a.url, b.url]);
    const retries: unknown[] = [];
    p.onRetry(e => retries.push(e));
    await allReady(p);
    // "At once": with the clock stopped, no hedge delay, attempt timeout or backoff can
    // fire, so the read can only settle if the failure itself handed it over.
    fakeClock();
    const { value } = await settled(track(p.exec<any>('KV', 'range', rangeReq())));
    expect(value.kvs[0].value.toString()).toBe('from-b');
    expect([a.count('KV.range'), b.count('KV.range')]).toEqual([1, 1]);
    expect(retries).toEqual([]); // the same round, not a retry round after a backoff
  });

  test('a read rejected for what it asks (permission denied) is not retried', async () => {
    const [a, b] = await fakes(2);
    for (const f of [a, b]) {
      f.on('KV.range', () => ({
        code: Status.PERMISSION_DENIED,
        details: 'etcdserver: permission denied',
      }));
    }
    const p = pool([a.url, b.url]);
    await allReady(p);
    const { error } = await timed(() => p.exec('KV', 'range', rangeReq()));
    expect(error).toBeInstanceOf(EtcdPermissionDeniedError);
    expect(a.count('KV.range') + b.count('KV.range')).toBe(1);
    expect(p.endpoints.map(ep => ep.breakerState)).toEqual(['closed', 'closed']);
  });

  test('a single endpoint: retry rounds, spaced by backoff, until it answers', async () => {
    const [a] = await fakes(1);
    let n = 0;
    a.on('KV.range', () => (++n < 3 ? unavailable('etcdserver: leader changed') : found('third')));
    const p = pool([a.url], {
      breaker: { consecutiveFailures: 10 },
      retry: { initialDelayMs: 20, maxDelayMs: 40 },
    });
    const retries: number[] = [];
    p.onRetry(e => retries.push(e.attempt));
    await allReady(p);
    const { value } = await timed(() => p.exec<any>('KV', 'range', rangeReq()));
    expect(value.kvs[0].value.toString()).toBe('third');
    expect(retries).toEqual([1, 2]);
    expect(a.count('KV.range')).toBe(3);
  });

  test('retry rounds are bounded by retry.maxAttempts', async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => unavailable('etcdserver: leader changed'));
    const p = pool([a.url], {
      breaker: { consecutiveFailures: 100 },
      retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 5 },
    });
    await allReady(p);
    const { error } = await timed(() => p.exec('KV', 'range', rangeReq()));
    expect(error?.constructor.name).toBe('GRPCUnavailableError');
    expect(a.count('KV.range')).toBe(3); // first round + 2 retry rounds
  });
});
