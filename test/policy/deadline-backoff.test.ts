import { ConstantBackoff, ExponentialBackoff, type IRetryBackoffContext } from 'cockatiel';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { DeadlineBackoff } from '../../lib/policy/deadline-backoff';

const T0 = 1_000_000;
const failed = (deadline: number | undefined, attempt = 1): IRetryBackoffContext<unknown> => ({
  attempt,
  signal: new AbortController().signal,
  result: { error: Object.assign(new Error('failed'), { deadline }) },
});
const deadlineOf = (err: unknown) => (err as { deadline?: number }).deadline;

describe('DeadlineBackoff', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  test('passes the inner delay through when the deadline is far', () => {
    const b = new DeadlineBackoff(new ConstantBackoff(200), deadlineOf);
    expect(b.next(failed(T0 + 10_000)).duration).toBe(200);
  });

  test('cuts the delay so that the next round starts before the deadline (5 ms to spare)', () => {
    const b = new DeadlineBackoff(new ConstantBackoff(200), deadlineOf);
    expect(b.next(failed(T0 + 100)).duration).toBe(95);
  });

  test('never negative: past the deadline the delay is 0', () => {
    const b = new DeadlineBackoff(new ConstantBackoff(200), deadlineOf);
    expect(b.next(failed(T0 + 3)).duration).toBe(0);
    expect(b.next(failed(T0 - 1000)).duration).toBe(0);
  });

  test('without a known deadline (or on a non-error result) the inner delay is kept', () => {
    const b = new DeadlineBackoff(new ConstantBackoff(200), deadlineOf);
    expect(b.next(failed(undefined)).duration).toBe(200);
    const value: IRetryBackoffContext<unknown> = {
      attempt: 1,
      signal: new AbortController().signal,
      result: { value: 1 },
    };
    expect(b.next(value).duration).toBe(200);
  });

  test('later delays are capped against the time left then', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const inner = new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 });
    const deadline = T0 + 400;
    const b = new DeadlineBackoff(inner, deadlineOf);
    const uncapped: number[] = [];
    const capped: number[] = [];
    const startedAt: number[] = [];
    let u = inner.next();
    startedAt.push(Date.now());
    let c = b.next(failed(deadline));
    for (let i = 0; i < 5; i++) {
      uncapped.push(u.duration);
      capped.push(c.duration);
      vi.advanceTimersByTime(c.duration);
      u = u.next(undefined);
      startedAt.push(Date.now());
      c = c.next(failed(deadline, i + 2));
    }
    // The same jittered sequence, each cut to what is left before the deadline then.
    for (let i = 0; i < 5; i++) {
      expect(capped[i]).toBe(Math.max(0, Math.min(uncapped[i], deadline - startedAt[i] - 5)));
    }
    expect(uncapped.some((d, i) => d > capped[i])).toBe(true);
    expect(Date.now()).toBeLessThanOrEqual(deadline - 5);
  });
});
