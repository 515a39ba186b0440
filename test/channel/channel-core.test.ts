/**
 * ChannelCore's overtaking of stuck attempts, on FakeChannels under fake time; the
 * endpoint's wiring is tested in test/pool/endpoint.
 */
import { connectivityState as S } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ChannelCore, type FollowOptions } from '../../lib/channel/channel-core';
import type { PathAnswer } from '../../lib/channel/connect-overtake';
import { noopLogger } from '../../lib/logger';
import { FakeChannel } from '../fakes/fake-channel';

const REBUILD = { transientFailureMs: 1000, initialBackoffMs: 100, maxBackoffMs: 3000 };

/** A path that answers fresh connections with `path.answer` after 5 ms. */
function scriptedPath() {
  const path = { answer: 'silent' as PathAnswer, probes: 0 };
  const probe = (timeoutMs: number) => {
    path.probes++;
    const answer = path.answer;
    return new Promise<PathAnswer>(r =>
      setTimeout(() => r(answer), answer === 'silent' ? timeoutMs : 5),
    );
  };
  return { path, probe };
}

/** A core whose owner makes one FakeChannel per generation, followed with `follow`. */
function setup(follow: Omit<FollowOptions, 'connectTimeoutMs'>, withProbe = true) {
  const { path, probe } = scriptedPath();
  const channels: FakeChannel[] = [];
  const unhealthy: string[] = [];
  const rebuilds: string[] = [];
  const dial = () => {
    const channel = new FakeChannel();
    channels.push(channel);
    core.follow(channel, {
      connectTimeoutMs: 4000,
      ...follow,
      onUnhealthy: (reason, state) => unhealthy.push(`${reason} ${state}`),
    });
    channel.getConnectivityState(true);
  };
  const core: ChannelCore = new ChannelCore({
    rebuild: REBUILD,
    log: noopLogger,
    replace: () => (dial(), true),
    probe: withProbe ? probe : undefined,
  });
  core.onRebuild(e => rebuilds.push(`${Date.now()} ${e.reason}`));
  dial();
  return { core, path, channels, unhealthy, rebuilds };
}

describe('ChannelCore overtakes a stuck attempt', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('the primary channel, once a fresh connection gets through: rebuilt, reason labelled, owner told', async () => {
    const { core, path, channels, unhealthy, rebuilds } = setup({
      primary: true,
      label: 'KV',
      overtakeEveryMs: 500,
    });
    await vi.advanceTimersByTimeAsync(1200);
    expect(rebuilds).toEqual([]); // silent so far: a slow link looks the same
    path.answer = 'answered';
    await vi.advanceTimersByTimeAsync(400);
    expect(rebuilds).toEqual(['1505 KV connect-overtaken']);
    expect(unhealthy).toEqual(['connect-overtaken CONNECTING']);
    expect(channels[1]!.currentState).toBe(S.CONNECTING);
    channels[1]!.transitionToState(S.READY);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(rebuilds).toHaveLength(1);
    expect(core.overtakeProbes).toBe(3);
    core.stop();
  });

  test('no probing without overtakeEveryMs, for a channel that is not primary, or without a probe', async () => {
    for (const [follow, withProbe] of [
      [{ primary: true }, true],
      [{ primary: false, overtakeEveryMs: 500 }, true],
      [{ primary: true, overtakeEveryMs: 500 }, false],
    ] as const) {
      const { core, path, rebuilds } = setup(follow, withProbe);
      path.answer = 'answered';
      await vi.advanceTimersByTimeAsync(3999);
      expect(rebuilds).toEqual([]);
      expect(path.probes).toBe(0);
      core.stop();
    }
  });

  test('after stop(), a probe in flight changes nothing', async () => {
    const { core, path, rebuilds } = setup({ primary: true, overtakeEveryMs: 500 });
    path.answer = 'answered';
    await vi.advanceTimersByTimeAsync(501); // out at 500, answers at 505
    core.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(path.probes).toBe(1);
    expect(rebuilds).toEqual([]);
  });
});
