/**
 * `retryWrites(options)` reads the caller's options once: a Proxy whose traps throw,
 * a throwing getter, a string or a bad signal is an `InvalidOptionError`, never the
 * caller's own error (adversary finding C, issue 10).
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { isMarkedRetryWrites, retryWrites } from '../../lib/policy/retry-writes';
import { throwingGetter, throwingProxy } from '../property/arbitraries';

describe('retryWrites(options)', () => {
  it('marks a copy of plain options and keeps their fields', () => {
    const signal = new AbortController().signal;
    const marked = retryWrites({ deadline: 5, signal } as never);
    expect(isMarkedRetryWrites(marked)).toBe(true);
    expect(marked).toMatchObject({ deadline: 5, signal });
    expect(isMarkedRetryWrites(retryWrites())).toBe(true);
  });

  it.each([
    ['a Proxy whose traps throw', throwingProxy()],
    ['a throwing getter', throwingGetter('deadline')],
    ['a string', 'x'],
    ['a number', 42],
    ['an array', []],
    ['a signal that is not an AbortSignal', { signal: 'aborted' }],
  ])('%s is InvalidOptionError', (_what, options) => {
    expect(() => retryWrites(options as never)).toThrow(InvalidOptionError);
  });
});
