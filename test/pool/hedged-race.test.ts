import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { hedgedRace, type RaceAttempt } from '../../lib/pool/hedged-race';

/** A scripted endpoint: answers `value` after `ms`, or fails with `error` after `ms`, or never. */
interface Script {
  ms?: number;
  value?: string;
  error?: Error;
}

function harness(
  scripts: Record<string, Script>,
  opts: { budget?: number; worth?: boolean; stalled?: string[] } = {},
) {
  const started: string[] = [];
  const cancelled: string[] = [];
  const hedges: string[] = [];
  const lost: Array<[string, number]> = [];
  let budget = opts.budget ?? Infinity;
  const attempt = (ep: string): RaceAttempt<string> => {
    started.push(ep);
    const s = scripts[ep]!;
    let timer: NodeJS.Timeout | undefined;
    const promise = new Promise<string>((resolve, reject) => {
      if (s.ms !== undefined) {
        timer = setTimeout(() => (s.error ? reject(s.error) : resolve(s.value ?? ep)), s.ms);
      }
    });
    return {
      promise,
      cancel: () => {
        clearTimeout(timer);
        cancelled.push(ep);
      },
    };
  };
  const run = () =>
    hedgedRace<string, string>({
      candidates: Object.keys(scripts),
      attempt,
      hedgeDelayMs: () => 20,
      forceDelayMs: () => 1000,
      // As the pool: from a stalled endpoint to one that is not, for free; else the budget.
      tryHedge: (from, to) =>
        ((opts.stalled ?? []).includes(from) && !(opts.stalled ?? []).includes(to)) ||
        (budget > 0 ? (budget--, true) : false),
      worthAnotherTry: () => opts.worth ?? true,
      onHedge: (from, to, forced) => hedges.push(`${from}->${to}${forced ? ' (forced)' : ''}`),
      onLose: (ep, ms) => lost.push([ep, ms]),
    });
  return { run, started, cancelled, hedges, lost };
}

async function settle<T>(p: Promise<T>, ms: number) {
  let out: { value?: T; error?: unknown; at?: number } = {};
  const t0 = Date.now();
  p.then(
    value => (out = { value, at: Date.now() - t0 }),
    error => (out = { error, at: Date.now() - t0 }),
  );
  await vi.advanceTimersByTimeAsync(ms);
  return out;
}

describe('hedgedRace', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('a fast first endpoint: no hedge, nothing else started', async () => {
    const h = harness({ a: { ms: 5 }, b: { ms: 5 } });
    const out = await settle(h.run(), 100);
    expect(out).toMatchObject({ value: 'a', at: 5 });
    expect(h.started).toEqual(['a']);
    expect(h.hedges).toEqual([]);
  });

  test('a frozen first endpoint: hedged after the hedge delay, the hedge wins, the frozen attempt is cancelled', async () => {
    const h = harness({ a: {}, b: { ms: 3 } });
    const out = await settle(h.run(), 100);
    expect(out).toMatchObject({ value: 'b', at: 23 });
    expect(h.hedges).toEqual(['a->b']);
    expect(h.cancelled).toEqual(['a']);
    expect(h.lost).toEqual([['a', 23]]);
  });

  test('the first attempt may still win after the hedge was sent', async () => {
    const h = harness({ a: { ms: 30 }, b: { ms: 50 } });
    const out = await settle(h.run(), 100);
    expect(out).toMatchObject({ value: 'a', at: 30 });
    expect(h.cancelled).toEqual(['b']);
  });

  test('no budget: no hedge until the force delay', async () => {
    const h = harness({ a: {}, b: { ms: 3 } }, { budget: 0 });
    const out = await settle(h.run(), 2000);
    expect(out).toMatchObject({ value: 'b', at: 1003 });
    expect(h.hedges).toEqual(['a->b (forced)']);
  });

  test('one endpoint: never cut short, waits for its answer however slow', async () => {
    const h = harness({ a: { ms: 4000 } });
    const out = await settle(h.run(), 5000);
    expect(out).toMatchObject({ value: 'a', at: 4000 });
    expect(h.hedges).toEqual([]);
  });

  test('no budget, but the slow endpoint is known stalled: hedged at the hedge delay, not the force delay', async () => {
    const h = harness({ a: {}, b: { ms: 3 } }, { budget: 0, stalled: ['a'] });
    const out = await settle(h.run(), 100);
    expect(out.value).toBe('b');
    expect(out.at).toBe(23); // 20 ms hedge delay + b's 3 ms
    expect(h.hedges).toEqual(['a->b']);
  });

  test('no budget and every endpoint stalled (all slow): no free hedge, the force delay', async () => {
    const h = harness({ a: {}, b: { ms: 3 } }, { budget: 0, stalled: ['a', 'b'] });
    const out = await settle(h.run(), 2000);
    expect(out.at).toBe(1003);
    expect(h.hedges).toEqual(['a->b (forced)']);
  });

  test('a failure worth another try hands over at once, without budget', async () => {
    const h = harness({ a: { ms: 1, error: new Error('refused') }, b: { ms: 2 } }, { budget: 0 });
    const out = await settle(h.run(), 100);
    expect(out).toMatchObject({ value: 'b', at: 3 });
    expect(h.hedges).toEqual([]);
  });

  test('a failure not worth another try ends the round and cancels the rest', async () => {
    const boom = new Error('permission denied');
    const h = harness(
      { a: {}, b: { ms: 25, error: boom }, c: { ms: 100 } },
      { worth: false, budget: 1 },
    );
    const out = await settle(h.run(), 200);
    expect(out.error).toBe(boom);
    expect(h.cancelled).toEqual(['a']);
    expect(h.started).toEqual(['a', 'b']);
  });

  test('every endpoint fails: rejects with the last error', async () => {
    const h = harness({
      a: { ms: 1, error: new Error('a down') },
      b: { ms: 1, error: new Error('b down') },
    });
    const out = await settle(h.run(), 100);
    expect((out.error as Error).message).toBe('b down');
  });

  test('a hedged attempt that then fails hands over no second time', async () => {
    // a is hedged to b at 20 ms, then a fails: c starts; b is still running and wins.
    const h = harness({ a: { ms: 30, error: new Error('a') }, b: { ms: 40 }, c: {} });
    const out = await settle(h.run(), 200);
    expect(out).toMatchObject({ value: 'b', at: 60 });
    expect(h.started).toEqual(['a', 'b', 'c']);
    expect(h.cancelled).toEqual(['c']);
  });

  test('every other endpoint failed while the first is still hung: the round ends, the hung attempt is cancelled', async () => {
    // A frozen leader (never answers) hedged to a follower that then answers
    // "leader changed": waiting on the frozen one until the deadline would help nobody.
    const h = harness({ a: {}, b: { ms: 10, error: new Error('leader changed') } });
    const out = await settle(h.run(), 5000);
    expect((out.error as Error).message).toBe('leader changed');
    expect(out.at).toBe(30);
    expect(h.cancelled).toEqual(['a']);
  });

  test('with allSlowError: every endpoint hung past its force delay ends the round for a fresh one', async () => {
    const started: string[] = [];
    const cancelled: string[] = [];
    const hang = (ep: string): RaceAttempt<string> => (
      started.push(ep),
      { promise: new Promise(() => undefined), cancel: () => cancelled.push(ep) }
    );
    let out: unknown;
    hedgedRace<string, string>({
      candidates: ['a', 'b'],
      attempt: hang,
      hedgeDelayMs: () => 20,
      forceDelayMs: () => 1000,
      tryHedge: () => true,
      worthAnotherTry: () => true,
      allSlowError: () => new Error('all slow'),
    }).catch(err => (out = err));
    await vi.advanceTimersByTimeAsync(1019);
    expect(out).toBeUndefined(); // b has run 999 ms: not yet past its force delay
    await vi.advanceTimersByTimeAsync(1);
    expect((out as Error).message).toBe('all slow');
    expect(cancelled.sort()).toEqual(['a', 'b']);
  });

  test('hedges chain when each endpoint in turn is slow, one per budget token', async () => {
    const h = harness({ a: {}, b: {}, c: { ms: 1 } }, { budget: 2 });
    const out = await settle(h.run(), 200);
    expect(out).toMatchObject({ value: 'c', at: 41 });
    expect(h.hedges).toEqual(['a->b', 'b->c']);
  });
});
