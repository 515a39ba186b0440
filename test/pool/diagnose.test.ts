import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { diagnose, type Diagnosis } from '../../lib/pool/diagnose';
import type { FreshAnswer } from '../../lib/pool/fresh-probe';

/** A probe that answers after `ms` (or never, if undefined), within its timeout. */
const after =
  (ms: number | undefined, calls: number[] = []) =>
  (timeoutMs: number) => {
    calls.push(timeoutMs);
    return new Promise<boolean>(resolve => {
      if (ms !== undefined && ms <= timeoutMs) setTimeout(() => resolve(true), ms);
      else setTimeout(() => resolve(false), timeoutMs);
    });
  };

/** A fresh connection: answers after `ms`, is refused after `ms` ('refused'), or stays silent. */
const fresh =
  (ms: number | undefined | 'refused', calls: number[] = []) =>
  (timeoutMs: number) => {
    calls.push(timeoutMs);
    return new Promise<FreshAnswer>(resolve => {
      if (ms === 'refused') setTimeout(() => resolve('refused'), 2);
      else if (ms !== undefined && ms <= timeoutMs) setTimeout(() => resolve('answered'), ms);
      else setTimeout(() => resolve('silent'), timeoutMs);
    });
  };

async function run(current: number | undefined, freshMs: number | undefined | 'refused') {
  const freshCalls: number[] = [];
  let out: Diagnosis | undefined;
  void diagnose({
    statusOnCurrent: after(current),
    statusOnFresh: fresh(freshMs, freshCalls),
    freshAfterMs: 1000,
    patienceMs: 5000,
  }).then(d => (out = d));
  await vi.advanceTimersByTimeAsync(10_000);
  return { out, freshCalls };
}

describe('diagnose', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('a slow link (4 s round trip): alive, whatever a fresh connection does', async () => {
    // A fresh connection needs a handshake and a call: two round trips.
    const { out, freshCalls } = await run(4000, 8000);
    expect(out).toEqual({ kind: 'alive', rttMs: 4000 });
    expect(freshCalls).toEqual([4000]);
  });

  test('a quick answer: alive, no fresh connection dialled', async () => {
    const { out, freshCalls } = await run(30, 1);
    expect(out).toEqual({ kind: 'alive', rttMs: 30 });
    expect(freshCalls).toEqual([]);
  });

  test('a silently dead connection (half-open): found as soon as a fresh one answers', async () => {
    const { out } = await run(undefined, 5);
    expect(out).toEqual({ kind: 'dead-connection', afterMs: 1005 });
  });

  test('a silent connection while new ones are refused (member down, path cut): unreachable at the refusal', async () => {
    // Waiting out the patience would leave the dead connection READY, so calls keep
    // going to it and hang instead of failing fast, and nothing re-dials when the
    // path heals: the connection must be rebuilt now.
    const { out } = await run(undefined, 'refused');
    expect(out).toEqual({ kind: 'unreachable', afterMs: 1002 });
  });

  test('a slow link whose fresh connection is refused still answers on the current one first', async () => {
    const { out } = await run(500, 'refused');
    expect(out).toEqual({ kind: 'alive', rttMs: 500 });
  });

  test('a frozen member: unresponsive after the whole patience', async () => {
    const { out } = await run(undefined, undefined);
    expect(out).toEqual({ kind: 'unresponsive', afterMs: 5000 });
  });

  test('a probe that rejects counts as no answer', async () => {
    let out: Diagnosis | undefined;
    void diagnose({
      statusOnCurrent: () => Promise.reject(new Error('closed')),
      statusOnFresh: () => Promise.reject(new Error('closed')),
      freshAfterMs: 10,
      patienceMs: 100,
    }).then(d => (out = d));
    await vi.advanceTimersByTimeAsync(200);
    expect(out).toEqual({ kind: 'unresponsive', afterMs: 0 });
  });
});
