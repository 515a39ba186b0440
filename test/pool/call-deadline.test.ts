/**
 * The call's deadline is the pool's own timer (lib/policy/deadline-timer.ts), not
 * grpc-js's `deadline` option: grpc-js gets no deadline (no per-call timer, no
 * `grpc-timeout` header), and a call cancelled at its deadline still fails as grpc-js
 * would fail it: DEADLINE_EXCEEDED, a write flagged `mayHaveBeenApplied` rather than
 * an unknown outcome.
 */
import { GRPCDeadlineExceededError } from 'etcd3';
import { describe, expect, test, vi } from 'vitest';
import { WriteOutcomeUnknownError } from '../../lib/errors';
import { deadlineExceededError, deadlineTimer } from '../../lib/policy/deadline-timer';
import { marksOf } from '../../lib/pool/classify';
import { HANG } from '../fakes/fake-etcd';
import * as harness from '../fakes/pool-harness';

const { advance, allReady, fakeClock, makePool, realSleep, settled, track } = harness;
const { cleanup, fakes } = harness.withCleanup();

async function hungPool(method: 'KV.range' | 'KV.put') {
  const [a] = await fakes(1);
  a.on(method, () => HANG);
  const p = makePool([a.url], { callTimeoutMs: 500, attemptTimeoutMs: 5000 });
  cleanup.push(() => p.close());
  await allReady(p);
  const grpcOptions: unknown[] = [];
  const client = p.endpoints[0].client('KV') as any;
  const name = method === 'KV.range' ? 'range' : 'put';
  const send = client[name];
  vi.spyOn(client, name).mockImplementation((...args: any[]) => {
    grpcOptions.push(args[2]);
    return send.apply(client, args);
  });
  fakeClock();
  return { p, grpcOptions };
}

/** Pending 1 ms before `ms` of fake time, settled at `ms`. */
async function settlesAt(call: ReturnType<typeof track>, ms: number) {
  await advance(ms - 1);
  await realSleep(20);
  expect(call.settled).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  return settled(call, `the call settled at ${ms} ms`);
}

describe('the deadline of an attempt', () => {
  test('a hung read fails with DEADLINE_EXCEEDED exactly at its deadline; grpc-js got no deadline', async () => {
    const { p, grpcOptions } = await hungPool('KV.range');
    const { error } = await settlesAt(track(p.exec('KV', 'range', harness.rangeReq())), 500);
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(error.message).toMatch(/DEADLINE_EXCEEDED: Deadline exceeded/);
    expect(marksOf(error)).toMatchObject({ sent: true, grpcCode: 4 });
    expect(grpcOptions.length).toBeGreaterThan(0);
    expect(grpcOptions.every(o => (o as { deadline?: unknown }).deadline === undefined)).toBe(true);
  });

  test('a hung write fails as a passed deadline (mayHaveBeenApplied), not an unknown outcome', async () => {
    const { p, grpcOptions } = await hungPool('KV.put');
    const call = track(p.exec('KV', 'put', harness.putReq(), { deadline: Date.now() + 300 }));
    const { error } = await settlesAt(call, 300);
    expect(error).toBeInstanceOf(GRPCDeadlineExceededError);
    expect(error).not.toBeInstanceOf(WriteOutcomeUnknownError);
    expect(error.mayHaveBeenApplied).toBe(true);
    expect(grpcOptions).toHaveLength(1);
    expect((grpcOptions[0] as { deadline?: unknown }).deadline).toBeUndefined();
  });
});

describe('deadlineTimer', () => {
  test('fires at the deadline; none for no deadline or one beyond what a timer can hold', () => {
    vi.useFakeTimers({ now: 1_000 });
    const fired = vi.fn();
    expect(deadlineTimer(Infinity, fired)).toBeUndefined();
    expect(deadlineTimer(1_000 + 2 ** 31, fired)).toBeUndefined();
    deadlineTimer(1_250, fired);
    vi.advanceTimersByTime(249);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  test('deadlineExceededError reads as grpc-js reports a passed deadline', () => {
    const cancelled = Object.assign(new Error('1 CANCELLED: Cancelled on client'), {
      code: 1,
      details: 'Cancelled on client',
    });
    const err = deadlineExceededError(cancelled) as any;
    expect(err.constructor).toBe(Error); // etcd3's castGrpcError casts only plain errors
    expect(err).toMatchObject({ code: 4, details: 'Deadline exceeded' });
    expect(err.message).toBe('4 DEADLINE_EXCEEDED: Deadline exceeded');
    expect(err.stack).toMatch(/^Error: 4 DEADLINE_EXCEEDED: Deadline exceeded/);
  });
});
