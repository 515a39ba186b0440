import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Backoff } from '../../lib/policy/backoff';

/** The hand-written loop the watch hub and discovery used before `Backoff`. */
function handWritten(initialDelay: number, maxDelay: number) {
  const factory = new ExponentialBackoff({ initialDelay, maxDelay });
  let current: IBackoff<unknown> = factory.next();
  return {
    next(): number {
      const delay = current.duration;
      current = current.next(undefined) ?? current;
      return delay;
    },
    reset(): void {
      current = factory.next();
    },
  };
}

describe('Backoff', () => {
  afterEach(() => vi.restoreAllMocks());

  // The hand-written loop drew its next delay eagerly, `Backoff` draws lazily, so
  // the order of Math.random draws differs; with a fixed draw the delays must match.
  test.each([0, 0.25, 0.5, 0.99])(
    'gives the same delays as the hand-written cockatiel loop, across resets (random = %s)',
    r => {
      vi.spyOn(Math, 'random').mockReturnValue(r);
      const run = (b: { next(): number; reset(): void }) => {
        const out: number[] = [];
        for (const steps of [6, 2, 12]) {
          for (let k = 0; k < steps; k++) out.push(b.next());
          b.reset();
        }
        return out;
      };
      const ours = run(new Backoff({ initialDelayMs: 100, maxDelayMs: 5000 }));
      expect(ours).toEqual(run(handWritten(100, 5000)));
      expect(Math.max(...ours)).toBeLessThanOrEqual(5000);
    },
  );

  test('the first delay after reset() is in the initial range again', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 5000 });
    const first = b.next();
    for (let k = 0; k < 10; k++) b.next();
    b.reset();
    expect(b.next()).toBe(first);
  });
});
