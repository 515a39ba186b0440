import { describe, expect, test } from 'vitest';
import { HedgeBudget } from '../../lib/pool/hedge-budget';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('HedgeBudget', () => {
  test('a quiet client still gets minPerWindow extra attempts', () => {
    const c = clock();
    const b = new HedgeBudget({ now: c.now, minPerWindow: 2, ratio: 0.1 });
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
    expect(b.stats).toEqual({ calls: 0, extras: 2, refused: 1 });
  });

  test('every call slow: extras never exceed ratio × calls + minPerWindow over any window', () => {
    const c = clock();
    const ratio = 0.1;
    const minPerWindow = 5;
    const windowMs = 10_000;
    const b = new HedgeBudget({ now: c.now, ratio, minPerWindow, windowMs });
    // 60 s of 50 calls/s, every one of which asks to hedge (every endpoint slow).
    const granted: number[] = [];
    const made: number[] = [];
    for (let ms = 0; ms < 60_000; ms += 20) {
      b.deposit();
      made.push(c.now());
      if (b.tryWithdraw()) granted.push(c.now());
      c.advance(20);
    }
    // Check every window [t, t + windowMs) of the run, in 1 s steps.
    const start = made[0]!;
    for (let t = start; t + windowMs <= start + 60_000; t += 1000) {
      const inWin = (x: number) => x >= t && x < t + windowMs;
      const extras = granted.filter(inWin).length;
      const calls = made.filter(inWin).length;
      expect(extras).toBeLessThanOrEqual(ratio * calls + minPerWindow);
    }
    // And the budget is used, not just refused: close to 10 % overall.
    expect(granted.length / made.length).toBeGreaterThan(0.09);
    expect(granted.length / made.length).toBeLessThanOrEqual(0.1 + minPerWindow / 500 + 0.01);
  });

  test('the budget refills as old slots leave the window', () => {
    const c = clock();
    const b = new HedgeBudget({ now: c.now, minPerWindow: 1, ratio: 0, windowMs: 1000, slots: 10 });
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
    c.advance(900);
    expect(b.available).toBe(false);
    c.advance(100);
    expect(b.available).toBe(true);
    expect(b.tryWithdraw()).toBe(true);
  });

  test('a long idle gap clears the whole window at O(slots) cost', () => {
    const c = clock();
    const b = new HedgeBudget({ now: c.now, windowMs: 1000 });
    for (let i = 0; i < 100; i++) b.deposit();
    c.advance(1e9);
    expect(b.stats).toEqual({ calls: 0, extras: 0, refused: 0 });
  });

  test('a clock that steps back does not corrupt the counts', () => {
    const c = clock();
    const b = new HedgeBudget({ now: c.now, windowMs: 1000, minPerWindow: 0, ratio: 1 });
    b.deposit();
    c.advance(-5000);
    b.deposit();
    expect(b.stats.calls).toBe(2);
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
  });
});
