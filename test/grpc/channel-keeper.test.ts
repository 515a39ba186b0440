import { connectivityState as S, credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChannelKeeper, type GrpcRebuildEvent } from '../../lib/grpc/channel-keeper';
import { noopLogger } from '../../lib/logger';
import { FakeChannel } from '../fakes/fake-channel';

const timing = {
  connectTimeoutMs: 1000,
  transientFailureMs: 2000,
  initialBackoffMs: 500,
  maxBackoffMs: 4000,
};

function setup() {
  const channels: FakeChannel[] = [];
  const keeper = new ChannelKeeper(
    'fake:///target',
    credentials.createInsecure(),
    { 'x.opt': 1 },
    timing,
    noopLogger,
    FakeChannel.factory(channels),
  );
  const rebuilds: GrpcRebuildEvent[] = [];
  keeper.onRebuild(e => rebuilds.push(e));
  return { keeper, channels, rebuilds };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('ChannelKeeper', () => {
  it('rebuilds a channel stuck CONNECTING past connectTimeoutMs, connecting the new one before closing the old', async () => {
    vi.useFakeTimers();
    const { keeper, channels, rebuilds } = setup();
    expect(channels[0]!.options['grpc.use_local_subchannel_pool']).toBe(1);
    expect(channels[0]!.options['x.opt']).toBe(1);
    channels[0]!.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(999);
    expect(rebuilds).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(rebuilds).toEqual([
      { target: 'fake:///target', reason: 'connect-timeout', generation: 1 },
    ]);
    expect(channels).toHaveLength(2);
    expect(channels[0]!.closed).toBe(true);
    expect(channels[1]!.connectRequests).toBe(1);
    expect(keeper.channel.inner).toBe(channels[1]);
    expect(keeper.state).toBe('CONNECTING');
    keeper.stop();
  });

  it('rebuilds after TRANSIENT_FAILURE lasts transientFailureMs, then spaces rebuilds by jittered exponential backoff', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { keeper, channels, rebuilds } = setup();
    const t0 = Date.now();
    const at: number[] = [];
    keeper.onRebuild(() => at.push(Date.now() - t0));
    channels[0]!.transitionToState(S.TRANSIENT_FAILURE);
    // Every new channel stays CONNECTING, so each asks for a rebuild 1 s after it was made.
    // With Math.random() = 0.5, cockatiel's decorrelated jitter (initial 500 ms) gives
    // backoffs of about 449, 546, 1018 and 2023 ms after rebuilds 1-4: the first three are
    // shorter than the 1 s connect timeout, the last two are not and delay the rebuild.
    await vi.advanceTimersByTimeAsync(7100);
    expect(rebuilds.map(r => r.reason)).toEqual([
      'transient-failure',
      'connect-timeout',
      'connect-timeout',
      'connect-timeout',
      'connect-timeout',
    ]);
    const expected = [2000, 3000, 4000, 5018, 7041];
    at.forEach((t, i) => expect(Math.abs(t - expected[i]!)).toBeLessThanOrEqual(2));
    expect(channels.filter(c => !c.closed)).toHaveLength(1);
    expect(keeper.generation).toBe(5);
    keeper.stop();
  });

  it('does not rebuild an IDLE or READY channel, and resets the backoff once READY', async () => {
    vi.useFakeTimers();
    const { keeper, channels, rebuilds } = setup();
    await vi.advanceTimersByTimeAsync(10_000);
    channels[0]!.transitionToState(S.CONNECTING);
    channels[0]!.transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(10_000);
    channels[0]!.transitionToState(S.IDLE);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rebuilds).toEqual([]);
    keeper.stop();
  });

  it('stop() cancels a pending rebuild and stops watching', async () => {
    vi.useFakeTimers();
    const { keeper, channels, rebuilds } = setup();
    keeper.requestRebuild('manual');
    expect(rebuilds).toHaveLength(1);
    keeper.requestRebuild('again'); // within the backoff: scheduled
    keeper.stop();
    channels[1]!.transitionToState(S.CONNECTING);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rebuilds).toHaveLength(1);
  });

  it('emits state changes of the current channel only', () => {
    vi.useFakeTimers();
    const { keeper, channels } = setup();
    const seen: string[] = [];
    keeper.onStateChange(e => seen.push(`${e.from}->${e.to}`));
    channels[0]!.transitionToState(S.CONNECTING);
    channels[0]!.transitionToState(S.READY);
    keeper.requestRebuild('manual');
    channels[0]!.transitionToState(S.IDLE); // the old channel, closed: not reported
    expect(seen).toEqual(['IDLE->CONNECTING', 'CONNECTING->READY', 'IDLE->CONNECTING']);
    keeper.stop();
  });

  it('a channel that recovers (READY) before a scheduled rebuild keeps running: the rebuild is cancelled', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const { keeper, channels, rebuilds } = setup();
    keeper.requestRebuild('manual'); // generation 1, now; the next one waits for the backoff
    expect(rebuilds).toHaveLength(1);
    const current = channels[1]!;
    current.transitionToState(S.TRANSIENT_FAILURE);
    keeper.requestRebuild('calls failing'); // within the backoff: scheduled
    current.transitionToState(S.CONNECTING);
    current.transitionToState(S.READY); // recovered before the timer fired
    await vi.advanceTimersByTimeAsync(60_000);
    expect(rebuilds.map(r => r.reason)).toEqual(['manual']);
    expect(current.closed).toBe(false);
    expect(keeper.channel.inner).toBe(current);
    keeper.stop();
  });
});
