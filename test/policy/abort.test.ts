import { GRPCCancelledError, isRecoverableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import {
  AbortError,
  abortError,
  isAbortError,
  onAbort,
  raceSignal,
  takeSignal,
  throwIfAborted,
} from '../../lib/policy/abort';

describe('AbortError', () => {
  it("is named 'AbortError', is etcd3's GRPCCancelledError, and is not recoverable", () => {
    const ac = new AbortController();
    ac.abort(new Error('user gave up'));
    const err = abortError(ac.signal, 'KV.put', true);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
    expect(err).toBeInstanceOf(GRPCCancelledError);
    expect(err).toBeInstanceOf(AbortError);
    expect(isRecoverableError(err)).toBe(false);
    expect(err.mayHaveBeenApplied).toBe(true);
    expect(err.message).toMatch(/may have been applied/);
    expect(err.cause).toBe(ac.signal.reason);
    expect(isAbortError(err)).toBe(true);
    expect(isAbortError(new DOMException('x', 'AbortError'))).toBe(true); // fetch's, too
    expect(abortError(ac.signal, 'KV.range').mayHaveBeenApplied).toBe(false);
  });
});

describe('signal helpers', () => {
  it('throwIfAborted throws only for an aborted signal', () => {
    const ac = new AbortController();
    expect(() => throwIfAborted(undefined, 'x')).not.toThrow();
    expect(() => throwIfAborted(ac.signal, 'x')).not.toThrow();
    ac.abort();
    expect(() => throwIfAborted(ac.signal, 'x')).toThrow(AbortError);
  });

  it('onAbort runs once, at once if already aborted, and unsubscribes', () => {
    const ac = new AbortController();
    let n = 0;
    const off = onAbort(ac.signal, () => n++);
    off();
    ac.abort();
    expect(n).toBe(0);
    onAbort(ac.signal, () => n++);
    expect(n).toBe(1);
  });

  it('raceSignal rejects when the signal aborts, and settles like the promise otherwise', async () => {
    const ac = new AbortController();
    let resolveLater!: (v: number) => void;
    const pending = new Promise<number>(r => (resolveLater = r));
    const raced = raceSignal(pending, ac.signal, () => abortError(ac.signal, 'x'));
    ac.abort();
    await expect(raced).rejects.toMatchObject({ name: 'AbortError' });
    resolveLater(1);
    await expect(
      raceSignal(Promise.resolve(2), new AbortController().signal, () => new Error()),
    ).resolves.toBe(2);
    await expect(
      raceSignal(Promise.reject(new Error('boom')), undefined, () => new Error()),
    ).rejects.toThrow('boom');
  });

  it('takeSignal strips the signal from call options and validates it', () => {
    const ac = new AbortController();
    expect(takeSignal({ deadline: 5, signal: ac.signal })).toEqual({
      signal: ac.signal,
      rest: { deadline: 5 },
    });
    const opts = { deadline: 5 };
    expect(takeSignal(opts).rest).toBe(opts);
    expect(takeSignal(undefined)).toEqual({ signal: undefined, rest: undefined });
    expect(() => takeSignal({ signal: {} as AbortSignal })).toThrow(InvalidOptionError);
  });
});
