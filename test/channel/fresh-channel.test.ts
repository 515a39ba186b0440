/** freshChannelProbe on FakeChannels under fake time: what a throwaway channel says. */
import { connectivityState as S } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { freshChannelProbe } from '../../lib/channel/fresh-channel';
import { FakeChannel } from '../fakes/fake-channel';

describe('freshChannelProbe', () => {
  const made: FakeChannel[] = [];
  const probe = freshChannelProbe(() => {
    const channel = new FakeChannel();
    made.push(channel);
    return channel;
  });
  beforeEach(() => {
    vi.useFakeTimers();
    made.length = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test("'answered' when the fresh channel turns READY; it is asked to connect and closed", async () => {
    const answer = probe(1000);
    expect(made[0]!.connectRequests).toBe(1);
    expect(made[0]!.currentState).toBe(S.CONNECTING);
    made[0]!.transitionToState(S.READY);
    await expect(answer).resolves.toBe('answered');
    expect(made[0]!.closed).toBe(true);
  });

  test("'refused' when it fails outright (TRANSIENT_FAILURE)", async () => {
    const answer = probe(1000);
    made[0]!.transitionToState(S.TRANSIENT_FAILURE);
    await expect(answer).resolves.toBe('refused');
    expect(made[0]!.closed).toBe(true);
  });

  test("'silent' exactly at the timeout when it stays CONNECTING", async () => {
    let answer: string | undefined;
    void probe(1000).then(a => (answer = a));
    await vi.advanceTimersByTimeAsync(999);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answer).toBe('silent');
    expect(made[0]!.closed).toBe(true);
  });

  test("'silent', not a throw, when no channel can be made", async () => {
    const broken = freshChannelProbe(() => {
      throw new Error('bad target');
    });
    await expect(broken(1000)).resolves.toBe('silent');
  });
});
