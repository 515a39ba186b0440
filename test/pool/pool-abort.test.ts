/**
 * `signal` in call options: an already-aborted signal sends nothing; an abort rejects
 * with AbortError, cancels the gRPC request, stops retries, does not count against the
 * endpoint; a write aborted after it was sent may have been applied.
 * Real grpc-js channels against fake etcd servers (test/fakes/fake-etcd.ts).
 */
import { describe, expect, test } from 'vitest';
import { isWriteOutcomeUnknown } from '../../lib/errors';
import type { ResilientPool } from '../../lib/pool/resilient-pool';
import { HANG, unavailable } from '../fakes/fake-etcd';
import {
  advance,
  allReady,
  fakeClock,
  makePool,
  putReq,
  rangeReq,
  settled,
  timed,
  track,
  waitUntil,
  withCleanup,
} from '../fakes/pool-harness';

const { cleanup, fakes } = withCleanup();

/** A long deadline: a call that settles did so because of the abort, not the deadline. */
function pool(hosts: string[], options = {}): ResilientPool {
  const p = makePool(hosts, {
    callTimeoutMs: 60_000,
    attemptTimeoutMs: 30_000,
    connectTimeoutMs: 30_000,
    ...options,
  });
  cleanup.push(() => p.close());
  return p;
}

describe('signal in call options', () => {
  test('an already-aborted signal sends nothing', async () => {
    const [a] = await fakes(1);
    const p = pool([a.url]);
    await allReady(p);
    const ac = new AbortController();
    ac.abort(new Error('gave up'));
    for (const [service, method, req] of [
      ['KV', 'range', rangeReq()],
      ['KV', 'put', putReq()],
      ['Lease', 'leaseGrant', { TTL: 5 }],
    ] as const) {
      const { error } = await timed(() => p.exec(service, method, req, { signal: ac.signal }));
      expect(error?.name).toBe('AbortError');
      expect(error.mayHaveBeenApplied).toBe(false);
      expect(error.cause).toBe(ac.signal.reason);
    }
    expect(a.received).toHaveLength(0);
  });

  test('a write aborted while in flight rejects, is cancelled on the server, and may have been applied', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.put', () => HANG);
    b.on('KV.put', () => HANG);
    const p = pool([a.url, b.url]);
    await allReady(p);
    const ac = new AbortController();
    const call = timed(() => p.exec('KV', 'put', putReq(), { signal: ac.signal }));
    await waitUntil(() => a.pending + b.pending === 1, 'the put reached a server');
    ac.abort();
    const { error } = await call;
    expect(error?.name).toBe('AbortError');
    expect(error.mayHaveBeenApplied).toBe(true);
    expect(isWriteOutcomeUnknown(error)).toBe(true);
    await waitUntil(() => a.pending + b.pending === 0, 'the server saw the cancellation');
    expect(a.count('KV.put') + b.count('KV.put')).toBe(1); // never resent
    // Our own cancellation is not the endpoint's fault.
    expect(p.endpoints.every(ep => ep.health().breakerState === 'closed')).toBe(true);
    expect(p.endpoints.every(ep => ep.health().lastError === undefined)).toBe(true);
  });

  test('a read aborted while in flight is not retried and has not been applied', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => HANG);
    b.on('KV.range', () => HANG);
    const p = pool([a.url, b.url]);
    await allReady(p);
    const ac = new AbortController();
    const call = timed(() => p.exec('KV', 'range', rangeReq(), { signal: ac.signal }));
    await waitUntil(() => a.pending + b.pending === 1, 'the range reached a server');
    ac.abort();
    const { error } = await call;
    expect(error).toMatchObject({ name: 'AbortError', mayHaveBeenApplied: false });
    await waitUntil(() => a.pending + b.pending === 0, 'the server saw the cancellation');
    expect(a.count('KV.range') + b.count('KV.range')).toBe(1);
  });

  test('an abort during the backoff between rounds stops the retries', async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => unavailable());
    const p = pool([a.url], { retry: { maxAttempts: 50, initialDelayMs: 200, maxDelayMs: 200 } });
    await allReady(p);
    const ac = new AbortController();
    let retried = false;
    p.onRetry(() => (retried = true));
    fakeClock(); // the 200 ms backoff cannot end by itself
    const call = track(p.exec('KV', 'range', rangeReq(), { signal: ac.signal }));
    await waitUntil(() => retried, 'the first round failed'); // now in the backoff
    expect(a.count('KV.range')).toBe(1);
    ac.abort();
    const { error } = await settled(call, 'the abort ended the backoff');
    expect(error?.name).toBe('AbortError');
    await advance(1000); // past the next backoffs
    expect(a.count('KV.range')).toBe(1);
  });

  test('aborted calls never count against the endpoint: its breaker stays closed', async () => {
    const [a] = await fakes(1);
    let hang = true;
    a.on('KV.range', () => (hang ? HANG : { ok: { header: {}, kvs: [], count: '0' } }));
    a.on('KV.put', () => (hang ? HANG : { ok: { header: {} } }));
    const p = pool([a.url], { breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 } });
    await allReady(p);
    for (let i = 0; i < 6; i++) {
      const ac = new AbortController();
      const [method, req] = i % 2 ? ['put', putReq()] : ['range', rangeReq()];
      const call = timed(() => p.exec('KV', method, req, { signal: ac.signal }));
      await waitUntil(() => a.pending === 1, 'the call reached the server');
      ac.abort();
      expect((await call).error?.name).toBe('AbortError');
      await waitUntil(() => a.pending === 0, 'the server saw the cancellation');
    }
    expect(p.endpoints[0].health().breakerState).toBe('closed');
    hang = false;
    await expect(p.exec('KV', 'range', rangeReq())).resolves.toBeTruthy();
  });

  test('a signal that never aborts changes nothing, and leaves no listener behind', async () => {
    const [a] = await fakes(1);
    const p = pool([a.url]);
    await allReady(p);
    const ac = new AbortController();
    let added = 0;
    let removed = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      return add(...args);
    }) as typeof add;
    ac.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      return remove(...args);
    }) as typeof remove;
    for (let i = 0; i < 5; i++) {
      await p.exec('KV', 'put', putReq(), { signal: ac.signal });
      await p.exec('KV', 'range', rangeReq(), { signal: ac.signal });
    }
    expect(added).toBeGreaterThan(0);
    expect(removed).toBe(added);
  });
});
