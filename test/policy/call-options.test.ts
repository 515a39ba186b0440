/**
 * `readCallOptions` (call options read once, safely) and `callStartedStream` (the
 * pool's "a stream was started" fact read from a grpc-js call object).
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { readCallOptions } from '../../lib/policy/call-options';
import { isMarkedRetryWrites, retryWrites } from '../../lib/policy/retry-writes';
import { callStartedStream } from '../../lib/policy/stream-started';
import { throwingGetter, throwingProxy } from '../property/arbitraries';

const optionOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return (err as InvalidOptionError).option;
  }
  return undefined;
};

describe('readCallOptions', () => {
  it('copies own enumerable keys, symbol marks included; none for undefined/null', () => {
    const signal = new AbortController().signal;
    const copy = readCallOptions(retryWrites({ deadline: 7, signal } as never), 'callOptions');
    expect(copy).toMatchObject({ deadline: 7, signal });
    expect(isMarkedRetryWrites(copy)).toBe(true);
    expect(readCallOptions(undefined, 'callOptions')).toBeUndefined();
    expect(readCallOptions(null, 'callOptions')).toBeUndefined();
  });

  it('names the field that cannot be read or is wrong', () => {
    expect(optionOf(() => readCallOptions(throwingGetter('deadline'), 'callOptions'))).toBe(
      'callOptions.deadline',
    );
    expect(optionOf(() => readCallOptions(throwingProxy(), 'callOptions'))).toBe('callOptions');
    expect(optionOf(() => readCallOptions('x', 'callOptions'))).toBe('callOptions');
    expect(optionOf(() => readCallOptions({ signal: 'aborted' }, 'callOptions'))).toBe(
      'callOptions.signal',
    );
    expect(optionOf(() => readCallOptions({ signal: throwingProxy() }, 'callOptions'))).toBe(
      'callOptions.signal',
    );
  });
});

describe('callStartedStream', () => {
  it('is true only for a call whose peer is a transport address; never throws', () => {
    expect(callStartedStream({ getPeer: () => '127.0.0.1:2379' })).toBe(true);
    expect(callStartedStream({ getPeer: () => '[::1]:2379' })).toBe(true);
    expect(callStartedStream({ getPeer: () => 'dns:127.0.0.1:2379' })).toBe(false);
    expect(
      callStartedStream({
        getPeer: () => {
          throw new Error('closed');
        },
      }),
    ).toBe(false);
    expect(callStartedStream(undefined)).toBe(false);
    expect(callStartedStream({})).toBe(false);
  });
});
