/**
 * `main(argv)` never throws (its TSDoc): an argv that is not an array of strings — a
 * Proxy whose traps throw, a string, an array holding a number — is a usage error,
 * exit 2 with the usage on stderr (adversary finding F, issue 10).
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main';
import { throwingProxy } from '../property/arbitraries';

describe('main(argv) with an argv that is not an array of strings', () => {
  it.each([
    ['a Proxy whose traps throw', throwingProxy()],
    [
      'an array Proxy whose traps throw',
      new Proxy([], {
        get: () => {
          throw new Error('x');
        },
      }),
    ],
    ['a string', 'doctor'],
    ['undefined', undefined],
    ['an array with a number', ['doctor', 42]],
  ])('%s: exit 2 with usage', async (_what, argv) => {
    let err = '';
    const code = await main(argv as never, { out: () => undefined, err: t => void (err += t) });
    expect(code).toBe(2);
    expect(err).toMatch(/^error: .*argv/);
    expect(err).toMatch(/Usage: etcd3-resilient/);
  });
});
