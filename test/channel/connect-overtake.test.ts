/**
 * ConnectOvertaker on fake time with a scripted path: `silent` probes wait out their
 * timeout, as a fresh connection into a blackhole does; `answered` and `refused`
 * probes settle after a few ms.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ConnectOvertaker, type PathAnswer } from '../../lib/channel/connect-overtake';
import { noopLogger } from '../../lib/logger';

const EVERY_MS = 500;

/** A path whose answer a test sets; every probe is recorded with its start time. */
function setup(probeMs?: number) {
  const path = { answer: 'silent' as PathAnswer };
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const stuck: string[] = [];
  const overtaker = new ConnectOvertaker(
    timeoutMs => {
      started.push(Date.now());
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      const answer = path.answer;
      const ms = probeMs ?? (answer === 'silent' ? timeoutMs : 5);
      return new Promise(resolve =>
        setTimeout(() => {
          inFlight--;
          resolve(answer);
        }, ms),
      );
    },
    noopLogger,
    answer => stuck.push(`${Date.now()} ${answer}`),
  );
  return { path, started, stuck, overtaker, maxInFlight: () => maxInFlight };
}

describe('ConnectOvertaker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('no probe before the attempt is everyMs old: a healthy handshake costs nothing', async () => {
    const { started, overtaker } = setup();
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(EVERY_MS - 1);
    overtaker.settled(); // READY
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toEqual([]);
  });

  test('a fresh connection answered while the attempt hangs: stuck, within one probe period of the heal', async () => {
    const { path, started, stuck, overtaker } = setup();
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(3_100); // the path is dead: probes stay silent
    expect(stuck).toEqual([]);
    path.answer = 'answered'; // healed at 3100, just after the probe of 3000 went out
    await vi.advanceTimersByTimeAsync(1_000);
    // The probe of 3000 stays silent until 3500; the next one is answered at 3505.
    expect(stuck).toEqual(['3505 answered']);
    expect(started).toEqual([500, 1000, 1500, 2000, 2500, 3000, 3500]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(started).toHaveLength(7); // once stuck, probing stops for this attempt
  });

  test('a refused fresh connection means the attempt cannot succeed either: stuck', async () => {
    const { path, stuck, overtaker } = setup();
    path.answer = 'refused';
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(600);
    expect(stuck).toEqual(['505 refused']);
  });

  test('an answer that comes after the attempt ended (READY, or replaced) is ignored', async () => {
    const { path, stuck, overtaker } = setup(200);
    path.answer = 'answered';
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(600); // probe out at 500, answers at 700
    overtaker.settled(); // the attempt itself got through at 600
    await vi.advanceTimersByTimeAsync(10_000);
    expect(stuck).toEqual([]);
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(100);
    overtaker.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(stuck).toEqual([]);
  });

  test('a slow link (every probe silent) is waited for: no verdict, probes bounded', async () => {
    const { started, stuck, overtaker, maxInFlight } = setup();
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(stuck).toEqual([]);
    // One per period at most, never two at once, over a 10 s outage.
    expect(started.length).toBeLessThanOrEqual(10_000 / EVERY_MS);
    expect(maxInFlight()).toBe(1);
  });

  test('probes slower than their period never overlap, even across attempts', async () => {
    const { started, overtaker, maxInFlight } = setup(1_800); // ignores its timeout
    overtaker.connecting(EVERY_MS);
    await vi.advanceTimersByTimeAsync(1_000); // one out since 500, until 2300
    overtaker.connecting(EVERY_MS); // a new attempt (rebuilt) at 1000: due at 1500
    await vi.advanceTimersByTimeAsync(9_000);
    expect(maxInFlight()).toBe(1);
    // 500; the next attempt's first waits for it (2300), then 4100, 5900, 7700, 9500.
    expect(started).toEqual([500, 2300, 4100, 5900, 7700, 9500]);
  });

  test('a tiny period is raised to MIN_OVERTAKE_EVERY_MS, and a throwing probe reads as silent', async () => {
    let calls = 0;
    const overtaker = new ConnectOvertaker(
      () => {
        calls++;
        throw new Error('no sockets left');
      },
      noopLogger,
      () => {
        throw new Error('not stuck');
      },
    );
    overtaker.connecting(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(20);
    overtaker.stop();
  });
});
