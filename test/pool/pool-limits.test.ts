/**
 * The pool's limits: every breaker open fails fast, no call outlives its deadline,
 * and close() ends calls with ClientClosedError.
 */
import { ClientClosedError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { describe, expect, test, vi } from 'vitest';
import { DeadlineExceededError, NoEndpointAvailableError } from '../../lib/errors';
import type { ResilientPool } from '../../lib/pool/resilient-pool';
import { HANG, unavailable } from '../fakes/fake-etcd';
import {
  advance,
  allReady,
  fakeClock,
  makePool,
  putReq,
  rangeReq,
  realSleep,
  settled,
  timed,
  track,
  waitUntil,
  withCleanup,
  type Tracked,
} from '../fakes/pool-harness';
import { startSilentServer } from '../fakes/silent-server';

const { cleanup, fakes } = withCleanup();

function pool(hosts: string[], options = {}): ResilientPool {
  const p = makePool(hosts, {
    callTimeoutMs: 3000,
    attemptTimeoutMs: 200,
    connectTimeoutMs: 200,
    ...options,
  });
  cleanup.push(() => p.close());
  return p;
}

/**
 * Asserts that `call` (started at fake time 0, under {@link fakeClock}) is still
 * pending 1 ms before `ms` of fake time, and settles once the clock reaches `ms`
 * without moving it further: it ends exactly when that timer (a deadline) fires.
 */
async function endsAt<T>(call: Tracked<T>, ms: number): Promise<Tracked<T>> {
  await advance(ms - 1);
  await realSleep(20); // let any reply or failure in flight arrive
  expect(call.settled).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  return settled(call, `the call settled at ${ms} ms`);
}

describe('circuit breakers', () => {
  test('every breaker open: NoEndpointAvailableError carrying the last cause, then fail fast', async () => {
    const [a, b] = await fakes(2);
    for (const f of [a, b]) {
      f.on('KV.range', () => unavailable('Connection dropped'));
    }
    const p = pool([a.url, b.url], {
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    await allReady(p);
    const first = await timed(() => p.exec('KV', 'range', rangeReq()));
    expect(first.error).toBeInstanceOf(NoEndpointAvailableError);
    expect(first.error.lastCause).toBeInstanceOf(GRPCUnavailableError);
    expect(first.error.lastCause.message).toMatch(/Connection dropped/);
    expect(first.error.cause).toBe(first.error.lastCause);
    expect(p.endpoints.map(ep => ep.breakerState)).toEqual(['open', 'open']);
    const sent = a.count('KV.range') + b.count('KV.range');
    expect(sent).toBe(2);

    // Fail fast: with the clock stopped (no half-open timer, no deadline can fire) the
    // call still settles.
    fakeClock();
    const second = await settled(track(p.exec('KV', 'put', putReq())));
    expect(second.error).toBeInstanceOf(NoEndpointAvailableError);
    expect(second.error.lastCause).toBeInstanceOf(GRPCUnavailableError);
    expect(a.received.length + b.received.length).toBe(sent); // nothing more was sent
  });

  test('an endpoint with an open breaker is skipped while another works', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => unavailable('Connection dropped'));
    const p = pool([a.url, b.url], {
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    await allReady(p);
    for (let i = 0; i < 6; i++) {
      await p.exec('KV', 'range', rangeReq());
    }
    expect(a.count('KV.range')).toBe(1);
    expect(b.count('KV.range')).toBe(6);
  });
});

describe('deadlines', () => {
  test('a read never outlives callTimeoutMs, whatever the endpoints do', async () => {
    const [a, b] = await fakes(2);
    a.on('KV.range', () => HANG);
    b.on('KV.range', () => HANG);
    const p = pool([a.url, b.url], { callTimeoutMs: 700, breaker: { consecutiveFailures: 100 } });
    await allReady(p);
    fakeClock();
    const { error } = await endsAt(track(p.exec('KV', 'range', rangeReq())), 700);
    expect([GRPCDeadlineExceededError, DeadlineExceededError].some(c => error instanceof c)).toBe(
      true,
    );
    // Hedged to the other endpoint; when both hang past their force delay, a fresh round
    // asks again (each round waits longer: the hung attempts count as slow round trips).
    expect(a.count('KV.range')).toBeGreaterThanOrEqual(1);
    expect(b.count('KV.range')).toBeGreaterThanOrEqual(1);
    expect(a.count('KV.range') + b.count('KV.range')).toBeGreaterThanOrEqual(3);
  });

  test("a call's own deadline option wins over callTimeoutMs", async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => HANG);
    const p = pool([a.url], { callTimeoutMs: 10_000, attemptTimeoutMs: 5000 });
    await allReady(p);
    fakeClock();
    const call = track(p.exec('KV', 'range', rangeReq(), { deadline: Date.now() + 300 }));
    const { error } = await endsAt(call, 300);
    expect(error).toBeDefined();
  });

  test('no endpoint ever connects: a write fails by its deadline, not after the connect timeout', async () => {
    const silent = await Promise.all([startSilentServer(), startSilentServer()]);
    cleanup.push(() => Promise.all(silent.map(s => s.close())));
    fakeClock();
    const p = pool(
      silent.map(s => s.url),
      { callTimeoutMs: 600, connectTimeoutMs: 5000 },
    );
    const { error } = await endsAt(track(p.exec('KV', 'put', putReq())), 600);
    expect([NoEndpointAvailableError, DeadlineExceededError].some(c => error instanceof c)).toBe(
      true,
    );
    expect(error.message).not.toMatch(/undefined/);
  });

  test('no endpoint ever connects: a read fails by its deadline, having tried each', async () => {
    const silent = await Promise.all([startSilentServer(), startSilentServer()]);
    cleanup.push(() => Promise.all(silent.map(s => s.close())));
    fakeClock();
    const p = pool(
      silent.map(s => s.url),
      { callTimeoutMs: 600 },
    );
    const call = track(p.exec('KV', 'range', rangeReq()));
    // Each endpoint gets connectTimeoutMs (200 ms); the call ends by its deadline.
    await advance(600);
    const { error } = await settled(call, 'the read settled by its 600 ms deadline');
    expect([NoEndpointAvailableError, DeadlineExceededError].some(c => error instanceof c)).toBe(
      true,
    );
    await waitUntil(() => silent.every(s => s.accepted >= 1), 'each endpoint was dialled');
  });

  test('getting an auth token counts against the deadline of the call that needs it', async () => {
    const [a] = await fakes(1);
    a.on('Auth.authenticate', () => HANG);
    fakeClock();
    const p = pool([a.url], {
      callTimeoutMs: 5000,
      attemptTimeoutMs: 5000,
      auth: { username: 'root', password: 'pw' },
    });
    const call = track(p.exec('KV', 'range', rangeReq(), { deadline: Date.now() + 300 }));
    await waitUntil(() => a.count('Auth.authenticate') === 1, 'the token was asked for');
    const { error } = await endsAt(call, 300);
    expect(error).toBeDefined();
    expect(a.count('KV.range')).toBe(0);
  });
});

describe('close()', () => {
  test('calls made after close() fail with ClientClosedError, sending nothing', async () => {
    const [a] = await fakes(1);
    const p = pool([a.url]);
    await allReady(p);
    p.close();
    const { error } = await timed(() => p.exec('KV', 'range', rangeReq()));
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(a.received).toHaveLength(0);
  });

  test('a call in flight when close() is called is cancelled: ClientClosedError, promptly', async () => {
    const [a] = await fakes(1);
    a.on('KV.put', () => HANG);
    const p = pool([a.url], { callTimeoutMs: 10_000 });
    await allReady(p);
    const put = track(p.exec('KV', 'put', putReq()));
    await waitUntil(() => a.pending === 1, 'the put reached the server');
    // Promptly: with the clock stopped (no deadline or timer can end it) close() alone
    // settles the call.
    fakeClock();
    p.close();
    const { error } = await settled(put, 'close() ended the call');
    expect(error).toBeInstanceOf(ClientClosedError);
    expect(a.count('KV.put')).toBe(1); // not resent anywhere
  });

  test('close() is idempotent', async () => {
    const [a] = await fakes(1);
    const p = pool([a.url]);
    p.close();
    expect(() => p.close()).not.toThrow();
  });
});
