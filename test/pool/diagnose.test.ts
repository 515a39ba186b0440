import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { diagnose, type Diagnosis } from '../../lib/pool/diagnose';

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

async function run(current: number | undefined, fresh: number | undefined) {
  const freshCalls: number[] = [];
  let out: Diagnosis | undefined;
  void diagnose({
    statusOnCurrent: after(current),
    statusOnFresh: after(fresh, freshCalls),
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
