/**
 * RebuildScheduler on fake time: when a rebuild runs (now, or once the jittered
 * backoff allows), merged requests, READY resetting the backoff and cancelling a
 * waiting rebuild, a refused rebuild, and stop().
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { RebuildScheduler } from '../../lib/channel/rebuild-scheduler';
import { noopLogger } from '../../lib/logger';

function setup(accept: () => boolean = () => true) {
  const ran: string[] = [];
  const rebuilt: string[] = [];
  const scheduler = new RebuildScheduler(
    { initialBackoffMs: 100, maxBackoffMs: 300 },
    noopLogger,
    reason => {
      ran.push(`${Date.now()} ${reason}`);
      return accept();
    },
    (reason, generation) => rebuilt.push(`${Date.now()} ${reason} g${generation}`),
  );
  return { scheduler, ran, rebuilt };
}

describe('RebuildScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  test('the first rebuild runs at once; the next waits for the backoff, and requests meanwhile merge into it', async () => {
    const { scheduler, rebuilt } = setup();
    scheduler.request('hang');
    expect(rebuilt).toEqual(['0 hang g1']);
    scheduler.request('connect-timeout');
    scheduler.request('transient-failure'); // merged: one rebuild, the first reason
    expect(scheduler.pendingReason).toBe('connect-timeout');
    await vi.advanceTimersByTimeAsync(1000);
    // cockatiel's decorrelated jitter with Math.random() = 0.5: about 90 ms after the
    // first (a fractional delay, so the timer fires at 89 or 90).
    expect(rebuilt).toHaveLength(2);
    expect(rebuilt[1]).toMatch(/^(89|90) connect-timeout g2$/);
    expect(scheduler.generation).toBe(2);
    expect(scheduler.rebuilds).toBe(2);
    expect(scheduler.pendingReason).toBeUndefined();
  });

  test('spacing grows with each rebuild up to maxBackoffMs: no storm however often it is asked', async () => {
    const { scheduler, rebuilt } = setup();
    const timer = setInterval(() => scheduler.request('flapping'), 1);
    await vi.advanceTimersByTimeAsync(3000);
    clearInterval(timer);
    const at = rebuilt.map(r => Number(r.split(' ')[0]));
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // About 90, 109, 204, then 300 ms (fractional delays: within 1 ms).
    [90, 109, 204, 300].forEach((gap, i) =>
      expect(Math.abs(gaps[i]! - gap)).toBeLessThanOrEqual(1),
    );
    expect(gaps.every(g => g >= 89 && g <= 301)).toBe(true);
    expect(rebuilt.length).toBeLessThanOrEqual(3000 / 89);
  });

  test('READY resets the backoff and cancels a rebuild still waiting for it', async () => {
    const { scheduler, rebuilt } = setup();
    scheduler.request('a');
    await vi.advanceTimersByTimeAsync(10);
    scheduler.request('b'); // waits until 90
    scheduler.ready();
    await vi.advanceTimersByTimeAsync(1000);
    expect(rebuilt).toEqual(['0 a g1']);
    scheduler.request('c'); // the backoff starts over: at once
    expect(rebuilt).toEqual(['0 a g1', '1010 c g2']);
  });

  test('a refused rebuild (owner closed) counts nothing and does not space the next', () => {
    let accept = false;
    const { scheduler, ran, rebuilt } = setup(() => accept);
    scheduler.request('a');
    expect(ran).toEqual(['0 a']);
    expect(rebuilt).toEqual([]);
    expect(scheduler.generation).toBe(0);
    expect(scheduler.rebuilds).toBe(0);
    accept = true;
    scheduler.request('b');
    expect(rebuilt).toEqual(['0 b g1']);
  });

  test('stop() cancels a waiting rebuild and refuses later requests', async () => {
    const { scheduler, ran } = setup();
    scheduler.request('a');
    scheduler.request('b');
    scheduler.stop();
    scheduler.request('c');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ran).toEqual(['0 a']);
    expect(scheduler.pendingReason).toBeUndefined();
  });
});
