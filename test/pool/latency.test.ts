import { describe, expect, test } from 'vitest';
import { LatencyTracker, delayFrom } from '../../lib/pool/latency';

/** A hand-driven clock: no timers, no wall clock. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('LatencyTracker', () => {
  test('no quantile until minSamples recent samples', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now, minSamples: 3 });
    expect(t.quantile(0.5)).toBeUndefined();
    t.record(10);
    t.record(10);
    expect(t.quantile(0.5)).toBeUndefined();
    t.record(10);
    expect(t.quantile(0.5)).toBeGreaterThanOrEqual(10);
  });

  test('quantiles are upper bounds within 20 % of the true value', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now });
    for (let i = 1; i <= 100; i++) t.record(i); // 1..100 ms
    for (const [q, exact] of [
      [0.5, 50],
      [0.95, 95],
      [0.99, 99],
      [1, 100],
    ] as const) {
      const got = t.quantile(q)!;
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got).toBeLessThanOrEqual(exact * 1.2);
    }
  });

  test('a link that turns slow raises p95 once more than 5 % of recent samples are slow', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now, windowMs: 10_000 });
    for (let i = 0; i < 100; i++) t.record(2);
    expect(t.quantile(0.95)).toBeLessThan(3);
    for (let i = 0; i < 6; i++) t.record(1600);
    expect(t.quantile(0.95)).toBeGreaterThanOrEqual(1600);
  });

  test('old samples are forgotten after two windows', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now, windowMs: 1000, minSamples: 1 });
    for (let i = 0; i < 50; i++) t.record(4000); // a slow spell
    c.advance(1000); // next window: the slow spell is still "previous"
    t.record(2);
    expect(t.quantile(0.95)).toBeGreaterThanOrEqual(4000);
    expect(t.count).toBe(51);
    c.advance(1000); // two windows on: only the 2 ms sample's window is previous
    t.record(2);
    expect(t.count).toBe(2);
    expect(t.quantile(0.99)).toBeLessThan(3);
  });

  test('a long silence drops everything', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now, windowMs: 1000, minSamples: 1 });
    t.record(100);
    c.advance(5000);
    expect(t.count).toBe(0);
    expect(t.quantile(0.5)).toBeUndefined();
  });

  test('recordAtLeast counts a cancelled attempt as a sample of its running time', () => {
    const c = clock();
    const t = new LatencyTracker({ now: c.now, minSamples: 1 });
    t.recordAtLeast(4000);
    expect(t.quantile(0.5)).toBeGreaterThanOrEqual(4000);
    expect(t.lastMs).toBe(4000);
  });

  test('odd samples (0, negative, NaN, huge) land in the end buckets without throwing', () => {
    const t = new LatencyTracker({ minSamples: 1 });
    t.record(0);
    t.record(-5);
    t.record(Number.NaN);
    expect(t.quantile(1)).toBe(0.5);
    t.record(1e12);
    expect(t.quantile(1)).toBeGreaterThan(1e6);
  });

  test('reset() forgets every sample', () => {
    const t = new LatencyTracker({ minSamples: 1 });
    t.record(10);
    t.reset();
    expect(t.count).toBe(0);
  });
});

describe('delayFrom', () => {
  const policy = { quantile: 0.95, floorMs: 20, fallbackMs: 250 };

  test('the fallback until there are enough samples', () => {
    expect(delayFrom(new LatencyTracker(), policy)).toBe(250);
  });

  test('never below the floor on a fast link', () => {
    const t = new LatencyTracker();
    for (let i = 0; i < 20; i++) t.record(1);
    expect(delayFrom(t, policy)).toBe(20);
  });

  test('the quantile on a slow link', () => {
    const t = new LatencyTracker();
    for (let i = 0; i < 20; i++) t.record(1600);
    const d = delayFrom(t, policy);
    expect(d).toBeGreaterThanOrEqual(1600);
    expect(d).toBeLessThanOrEqual(1600 * 1.2);
  });
});
