import { connectivityState as S } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { watchChannel, type ChannelWatchOptions } from '../../lib/channel/state-watcher';
import { FakeChannel } from '../fakes/fake-channel';

const CONNECT_MS = 3000;
const TF_MS = 1000;

function setup(initial: S = S.IDLE) {
  const channel = new FakeChannel(initial);
  const changes: string[] = [];
  const unhealthy: Array<[string, string]> = [];
  const options: ChannelWatchOptions = {
    connectTimeoutMs: CONNECT_MS,
    transientFailureMs: TF_MS,
    onStateChange: (from, to) => changes.push(`${from} -> ${to}`),
    onUnhealthy: (reason, state) => unhealthy.push([reason, state]),
  };
  const watch = watchChannel(channel, options);
  return { channel, changes, unhealthy, watch };
}

describe('watchChannel', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('follows every transition, re-arming the one-shot watch each time', async () => {
    const { channel, changes, watch } = setup();
    expect(watch.state).toBe('IDLE');
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.READY);
    channel.transitionToState(S.IDLE);
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.TRANSIENT_FAILURE);
    expect(changes).toEqual([
      'IDLE -> CONNECTING',
      'CONNECTING -> READY',
      'READY -> IDLE',
      'IDLE -> CONNECTING',
      'CONNECTING -> TRANSIENT_FAILURE',
    ]);
    expect(watch.state).toBe('TRANSIENT_FAILURE');
    expect(channel.pendingWatchers).toBe(1); // exactly one watch armed at any time
  });

  test('does not ask the channel to connect', () => {
    const { channel } = setup();
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.READY);
    expect(channel.connectRequests).toBe(0);
  });

  test('since is when the current state was entered', async () => {
    const { channel, watch } = setup();
    expect(watch.since).toBe(1_000_000);
    await vi.advanceTimersByTimeAsync(250);
    channel.transitionToState(S.CONNECTING);
    expect(watch.since).toBe(1_000_250);
  });

  test('reports CONNECTING that lasts past connectTimeoutMs, once', async () => {
    const { channel, unhealthy } = setup();
    channel.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS - 1);
    expect(unhealthy).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(unhealthy).toEqual([['connect-timeout', 'CONNECTING']]);
    await vi.advanceTimersByTimeAsync(CONNECT_MS * 5);
    expect(unhealthy).toHaveLength(1);
  });

  test('a channel already CONNECTING when the watch starts is timed from then', async () => {
    const { unhealthy } = setup(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS);
    expect(unhealthy).toEqual([['connect-timeout', 'CONNECTING']]);
  });

  test('reports TRANSIENT_FAILURE that lasts past transientFailureMs', async () => {
    const { channel, unhealthy } = setup();
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.TRANSIENT_FAILURE);
    await vi.advanceTimersByTimeAsync(TF_MS - 1);
    expect(unhealthy).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(unhealthy).toEqual([['transient-failure', 'TRANSIENT_FAILURE']]);
  });

  test('a state left in time is not reported', async () => {
    const { channel, unhealthy } = setup();
    channel.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS - 10);
    channel.transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(CONNECT_MS * 3);
    expect(unhealthy).toEqual([]);
  });

  test('each new unhealthy period gets a fresh timer (re-armed on every change)', async () => {
    const { channel, unhealthy } = setup();
    // CONNECTING -> TF -> CONNECTING, each shorter than its limit: never reported,
    // although the total time CONNECTING exceeds connectTimeoutMs.
    channel.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS - 100);
    channel.transitionToState(S.TRANSIENT_FAILURE);
    await vi.advanceTimersByTimeAsync(TF_MS - 100);
    channel.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS - 100);
    expect(unhealthy).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(unhealthy).toEqual([['connect-timeout', 'CONNECTING']]);
    channel.transitionToState(S.TRANSIENT_FAILURE);
    await vi.advanceTimersByTimeAsync(TF_MS);
    expect(unhealthy).toEqual([
      ['connect-timeout', 'CONNECTING'],
      ['transient-failure', 'TRANSIENT_FAILURE'],
    ]);
  });

  test('IDLE and READY are never reported, however long', async () => {
    const { channel, unhealthy } = setup();
    await vi.advanceTimersByTimeAsync(60_000);
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(60_000);
    channel.transitionToState(S.IDLE);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(unhealthy).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('stops at SHUTDOWN: reports it, arms no further watch and no timer', async () => {
    const { channel, changes, unhealthy, watch } = setup();
    channel.transitionToState(S.CONNECTING);
    channel.transitionToState(S.SHUTDOWN);
    expect(changes.at(-1)).toBe('CONNECTING -> SHUTDOWN');
    expect(watch.state).toBe('SHUTDOWN');
    expect(channel.pendingWatchers).toBe(0);
    await vi.advanceTimersByTimeAsync(CONNECT_MS * 2);
    expect(unhealthy).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('a channel closed under it (watch throws) ends the watch quietly', async () => {
    const { channel, unhealthy } = setup(S.SHUTDOWN);
    expect(channel.pendingWatchers).toBe(0);
    await vi.advanceTimersByTimeAsync(CONNECT_MS * 2);
    expect(unhealthy).toEqual([]);
  });

  test('stop() silences it: no state change and no unhealthy report afterwards', async () => {
    const { channel, changes, unhealthy, watch } = setup();
    channel.transitionToState(S.CONNECTING);
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
    channel.transitionToState(S.TRANSIENT_FAILURE);
    channel.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(CONNECT_MS * 3);
    expect(changes).toEqual(['IDLE -> CONNECTING']);
    expect(unhealthy).toEqual([]);
    expect(channel.pendingWatchers).toBe(0);
  });

  test('its timers do not keep the process alive', () => {
    const unref = vi.spyOn(globalThis, 'setTimeout');
    const { channel } = setup();
    channel.transitionToState(S.CONNECTING);
    const timer = unref.mock.results.at(-1)?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    unref.mockRestore();
  });

  test('a listener that throws neither escapes into the channel nor stops state tracking', async () => {
    const channel = new FakeChannel(S.IDLE);
    const changes: string[] = [];
    const unhealthy: string[] = [];
    const watch = watchChannel(channel, {
      connectTimeoutMs: CONNECT_MS,
      transientFailureMs: TF_MS,
      onStateChange: (from, to) => {
        changes.push(`${from} -> ${to}`);
        throw new Error('listener bug');
      },
      onUnhealthy: reason => {
        unhealthy.push(reason);
        throw new Error('listener bug');
      },
    });
    // The fake fires watchers synchronously, as grpc-js does: a throw would land here.
    expect(() => channel.transitionToState(S.CONNECTING)).not.toThrow();
    expect(() => channel.transitionToState(S.READY)).not.toThrow();
    expect(() => channel.transitionToState(S.TRANSIENT_FAILURE)).not.toThrow();
    expect(changes).toEqual([
      'IDLE -> CONNECTING',
      'CONNECTING -> READY',
      'READY -> TRANSIENT_FAILURE',
    ]);
    expect(watch.state).toBe('TRANSIENT_FAILURE');
    expect(channel.pendingWatchers).toBe(1);
    await vi.advanceTimersByTimeAsync(TF_MS);
    expect(unhealthy).toEqual(['transient-failure']);
    channel.transitionToState(S.READY);
    expect(watch.state).toBe('READY');
  });
});
