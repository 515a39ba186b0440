import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { DeadlineExceededError } from '../../lib/errors';
import { Authenticator } from '../../lib/pool/authenticator';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Authenticator', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('without credentials: empty metadata, nothing fetched', async () => {
    const authenticate = vi.fn();
    const auth = new Authenticator(undefined, authenticate);
    expect(auth.enabled).toBe(false);
    expect((await auth.metadata()).get('token')).toEqual([]);
    expect(authenticate).not.toHaveBeenCalled();
  });

  test('one fetch for many concurrent calls; the token is reused', async () => {
    const authenticate = vi.fn(async () => 'tok');
    const auth = new Authenticator({ username: 'u', password: 'p' }, authenticate);
    const metas = await Promise.all([
      auth.metadata(),
      auth.metadata(Date.now() + 100),
      auth.metadata(),
    ]);
    expect(metas.map(m => m.get('token')[0])).toEqual(['tok', 'tok', 'tok']);
    await auth.metadata(Date.now() + 100);
    expect(authenticate).toHaveBeenCalledTimes(1);
    expect(authenticate).toHaveBeenCalledWith('u', 'p');
  });

  test('invalidate() makes the next call fetch a fresh token', async () => {
    let n = 0;
    const auth = new Authenticator({ username: 'u', password: 'p' }, async () => `tok-${++n}`);
    expect((await auth.metadata()).get('token')[0]).toBe('tok-1');
    auth.invalidate();
    expect((await auth.metadata()).get('token')[0]).toBe('tok-2');
  });

  test('a failed fetch is not cached', async () => {
    const authenticate = vi
      .fn()
      .mockRejectedValueOnce(new Error('down'))
      .mockResolvedValueOnce('tok');
    const auth = new Authenticator({ username: 'u', password: 'p' }, authenticate);
    await expect(auth.metadata()).rejects.toThrow('down');
    expect((await auth.metadata()).get('token')[0]).toBe('tok');
  });

  test('waits for a token no longer than the deadline; the fetch goes on for later calls', async () => {
    const pending = deferred<string>();
    const authenticate = vi.fn(() => pending.promise);
    const auth = new Authenticator({ username: 'u', password: 's3cret-pw' }, authenticate);
    const first = auth.metadata(Date.now() + 300);
    const outcome = first.then(
      () => 'resolved',
      err => err,
    );
    await vi.advanceTimersByTimeAsync(299);
    await Promise.resolve();
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err.sent).toBe(false);
    expect(err.message).not.toContain('s3cret-pw');

    const second = auth.metadata(Date.now() + 1000);
    pending.resolve('late-token');
    expect((await second).get('token')[0]).toBe('late-token');
    expect(authenticate).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0); // the second call's timer was cleared
  });

  test('with a token at hand no timer is armed', async () => {
    const auth = new Authenticator({ username: 'u', password: 'p' }, async () => 'tok');
    await auth.metadata();
    await auth.metadata(Date.now() + 1000);
    expect(vi.getTimerCount()).toBe(0);
  });
});
