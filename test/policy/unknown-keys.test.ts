import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { rejectUnknownKeys } from '../../lib/policy/unknown-keys';

describe('rejectUnknownKeys', () => {
  it('accepts known keys', () => {
    expect(() => rejectUnknownKeys({ a: 1, bb: 2 }, ['a', 'bb', 'c'], '')).not.toThrow();
  });

  it('names the key with its path and suggests the closest allowed key', () => {
    const err = (() => {
      try {
        rejectUnknownKeys({ maxAttemps: 3 }, ['maxAttempts', 'backoff'], 'retry.');
      } catch (e) {
        return e;
      }
      return undefined;
    })() as InvalidOptionError;
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err.option).toBe('retry.maxAttemps');
    expect(err.message).toContain('unknown option; did you mean "maxAttempts"?');
  });

  it('suggests across case differences', () => {
    expect(() => rejectUnknownKeys({ callTimeoutMS: 1 }, ['callTimeoutMs'], '')).toThrow(
      /did you mean "callTimeoutMs"/,
    );
  });

  it('gives no suggestion for an unrelated key', () => {
    expect(() => rejectUnknownKeys({ zzzzzz: 1 }, ['maxAttempts'], '')).toThrow(
      /"zzzzzz": unknown option$/,
    );
  });

  it('never invokes getters', () => {
    const value = {
      get a(): number {
        throw new Error('boom');
      },
    };
    expect(() => rejectUnknownKeys(value, ['a'], '')).not.toThrow();
  });

  it('turns a throwing ownKeys trap into InvalidOptionError', () => {
    const value = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    expect(() => rejectUnknownKeys(value, [], 'retry.')).toThrow(InvalidOptionError);
  });
});
