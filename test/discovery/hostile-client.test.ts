/**
 * `discover(client, ...)` checks its client before reading anything from it: a Proxy
 * whose traps throw, a getter that throws or a value that is not an etcd client is an
 * `InvalidOptionError` naming `client`, never the caller's own error (adversary
 * finding G, issue 10).
 */
import { describe, expect, it } from 'vitest';
import { discover } from '../../lib/discovery/discovery';
import { InvalidOptionError } from '../../lib/errors';
import { throwingGetter, throwingProxy } from '../property/arbitraries';

describe('discover(<not an etcd client>)', () => {
  it.each([
    ['a Proxy whose traps throw', throwingProxy()],
    ['a throwing getter', throwingGetter('put')],
    ['an empty object', {}],
    ['undefined', undefined],
    ['a string', 'etcd'],
  ])('%s is InvalidOptionError("client")', (_what, client) => {
    let caught: unknown;
    try {
      discover(client as never, 'svc');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect((caught as InvalidOptionError).option).toBe('client');
  });
});
