/**
 * Property: any options object either resolves or is rejected with
 * InvalidOptionError (never a TypeError from deep inside etcd3 or grpc-js), and a
 * client built from accepted options closes without leaving a timer or socket.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { ETCD3_OPTION_KEYS, resolveOptions } from '../../lib/options';
import { hostile, hostsAreValid, loopbackHost, optionObjects, printerKillers } from './arbitraries';
import { activeResources, excessResources, settleResources } from './resources';

/** Runs `fn`; returns 'ok', or rethrows anything that is not an InvalidOptionError. */
function okOrInvalid(fn: () => unknown): 'ok' | 'invalid' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      expect(err.code).toBe('ERESILIENT_INVALID_OPTION');
      expect(typeof err.message).toBe('string');
      return 'invalid';
    }
    throw err;
  }
}

const seen = { ok: 0, invalid: 0 };
afterAll(() => {
  console.log(`options properties: ${seen.ok} accepted, ${seen.invalid} rejected`);
  // Both outcomes must actually be exercised, or the properties prove little.
  expect(seen.ok).toBeGreaterThan(20);
  expect(seen.invalid).toBeGreaterThan(20);
});

describe('resolveOptions', () => {
  test('any top-level value: resolves or throws InvalidOptionError', () => {
    fc.assert(
      fc.property(fc.oneof(hostile(), printerKillers()), input => {
        okOrInvalid(() => resolveOptions(input as never));
      }),
      { numRuns: 300 },
    );
  });

  test('option objects with hostile fields: resolves or throws InvalidOptionError', () => {
    fc.assert(
      fc.property(optionObjects(), input => {
        seen[okOrInvalid(() => resolveOptions(input as never))]++;
      }),
      { numRuns: 500 },
    );
  });

  test('a hostile value in any single field is caught at that field', () => {
    const fields = [
      'hosts',
      'callTimeoutMs',
      'keepalive',
      'retry',
      'breaker',
      'rebuild',
      'auth',
      'credentials',
      'logger',
      'closeTimeoutMs',
    ];
    fc.assert(
      fc.property(fc.constantFrom(...fields), printerKillers(), (name, value) => {
        okOrInvalid(() => resolveOptions({ [name]: value } as never));
      }),
      { numRuns: 200 },
    );
  });

  test('resolved numbers are finite, in range and internally consistent', () => {
    fc.assert(
      fc.property(optionObjects(), input => {
        let r: ReturnType<typeof resolveOptions>;
        try {
          r = resolveOptions(input as never);
        } catch {
          return;
        }
        for (const v of [
          r.callTimeoutMs,
          r.attemptTimeoutMs,
          r.connectTimeoutMs,
          r.closeTimeoutMs,
          r.keepalive.timeMs,
          r.keepalive.timeoutMs,
        ]) {
          expect(Number.isFinite(v) && v >= 1 && v <= 2 ** 31 - 1).toBe(true);
        }
        expect(r.keepalive.timeMs).toBeGreaterThanOrEqual(5000);
        expect(r.retry.maxDelayMs).toBeGreaterThanOrEqual(r.retry.initialDelayMs);
        expect(r.rebuild.maxBackoffMs).toBeGreaterThanOrEqual(r.rebuild.initialBackoffMs);
        expect(r.hosts.length).toBeGreaterThan(0);
        // Our own keys never leak into the options handed to etcd3.
        for (const own of ['callTimeoutMs', 'keepalive', 'retry', 'breaker', 'rebuild', 'logger']) {
          expect(own in (r.etcd3 as object)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a rejected password is never echoed in the error', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 8 }),
        fc.constantFrom('', 5, null),
        (password, username) => {
          try {
            resolveOptions({ auth: { username, password } } as never);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidOptionError);
            expect(String((err as Error).message)).not.toContain(password);
            return;
          }
          throw new Error('bad username accepted');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('new Etcd3(options)', () => {
  // Hosts are loopback only (no DNS, no network): valid loopback lists, or
  // values that fail validation before anything is dialled.
  const hosts = fc.oneof(
    loopbackHost,
    fc.uniqueArray(loopbackHost, { minLength: 1, maxLength: 3 }),
    hostile().filter(h => !hostsAreValid(h)),
    fc.string().filter(h => !hostsAreValid(h)),
  );

  test('constructs or throws InvalidOptionError; close() leaves no timer or socket behind', async () => {
    const baseline = activeResources();
    await fc.assert(
      fc.asyncProperty(optionObjects(hosts), async input => {
        let client: Etcd3 | undefined;
        const outcome = okOrInvalid(() => (client = new Etcd3(input as never)));
        seen[outcome]++;
        if (client) {
          expect(client.health().closed).toBe(false);
          await client.close();
          expect(client.health().closed).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
    expect(await settleResources(baseline)).toEqual({});
  });
});

/** Every key accepted at each level (top level: etcd3's and ours). */
const ALLOWED: Record<string, string[]> = {
  '': [
    ...Object.keys(ETCD3_OPTION_KEYS),
    'callTimeoutMs',
    'attemptTimeoutMs',
    'connectTimeoutMs',
    'keepalive',
    'retry',
    'breaker',
    'rebuild',
    'autoSyncIntervalMs',
    'closeTimeoutMs',
    'logger',
  ],
  keepalive: ['timeMs', 'timeoutMs', 'permitWithoutCalls'],
  retry: ['maxAttempts', 'initialDelayMs', 'maxDelayMs'],
  breaker: ['consecutiveFailures', 'halfOpenAfterMs'],
  rebuild: ['transientFailureMs', 'initialBackoffMs', 'maxBackoffMs'],
  auth: ['username', 'password', 'callOptions'],
  faultHandling: ['host', 'global', 'watchBackoff'],
};

/** Runs `fn`, which must throw InvalidOptionError; returns it. */
function mustReject(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      return err;
    }
    throw err;
  }
  throw new Error('accepted');
}

describe('hostile option keys, ports and spellings: typed errors, nothing connected first', () => {
  // Keys that are not allowed at their level: random strings, near-misses of real keys
  // (case changed, a letter dropped or doubled), and prototype-ish names.
  const group = fc.constantFrom(...Object.keys(ALLOWED));
  const unknownKey = (level: string) =>
    fc
      .oneof(
        fc.string({ minLength: 1, maxLength: 30 }),
        fc
          .constantFrom(...ALLOWED[level])
          .chain(k =>
            fc.constantFrom(
              k.toUpperCase(),
              k.slice(0, -1),
              `${k}${k.at(-1)}`,
              k.replace(/Ms$/, 'MS'),
              `${k} `,
            ),
          ),
        fc.constantFrom('constructor', 'toString', '__proto__x', '', '\u0000', 'hosts\n'),
      )
      .filter(k => !ALLOWED[level].includes(k) && k !== '__proto__');

  test('an unknown key at any level is rejected, named, before anything is created', () => {
    const baseline = activeResources();
    fc.assert(
      fc.property(
        group.chain(level => fc.tuple(fc.constant(level), unknownKey(level), hostile())),
        ([level, key, value]) => {
          const options: Record<string, unknown> =
            level === ''
              ? { [key]: value }
              : {
                  [level]: { [key]: value },
                  ...(level === 'auth' ? {} : {}),
                };
          const err = mustReject(() => new Etcd3(options as never));
          expect(err.option).toBe(level === '' ? key : `${level}.${key}`);
          expect(err.message).toMatch(/unknown option/);
          seen.invalid++;
        },
      ),
      { numRuns: 300 },
    );
    // Rejected before the constructor made a channel, timer or socket.
    expect(excessResources(baseline)).toEqual({});
  });

  test('a throwing getter or Proxy trap anywhere in the options is an InvalidOptionError', () => {
    const throwing = (keys: string[]) => {
      const o: Record<string, unknown> = {};
      for (const k of keys) {
        Object.defineProperty(o, k, {
          enumerable: true,
          get() {
            throw new Error(`getter ${k} exploded`);
          },
        });
      }
      return o;
    };
    const trap = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('ownKeys exploded');
        },
      },
    );
    fc.assert(
      fc.property(group, fc.boolean(), (level, useProxy) => {
        const inner = useProxy ? trap : throwing(ALLOWED[level].slice(0, 1));
        const options = level === '' ? inner : { [level]: inner };
        mustReject(() => resolveOptions(options as never));
      }),
      { numRuns: 50 },
    );
    const hostsProxy = new Proxy(['127.0.0.1:1'], {
      get(target, p) {
        if (p === '0') {
          throw new Error('element exploded');
        }
        return Reflect.get(target, p);
      },
    });
    expect(mustReject(() => resolveOptions({ hosts: hostsProxy })).option).toBe('hosts');
  });

  test('a port is accepted if and only if it is 1-65535', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', 'http://', 'https://', 'HTTP://'),
        fc.constantFrom('127.0.0.1', 'localhost', '[::1]', 'etcd-0.etcd'),
        fc.oneof(fc.integer({ min: 0, max: 99_999 }), fc.constantFrom(0, 1, 65_535, 65_536)),
        fc.integer({ min: 0, max: 4 }),
        (scheme, host, port, zeros) => {
          const h = `${scheme}${host}:${'0'.repeat(zeros)}${port}`;
          if (port >= 1 && port <= 65_535) {
            expect(resolveOptions({ hosts: [h] }).hosts).toEqual([
              `${scheme.toLowerCase()}${host}:${port}`,
            ]);
          } else {
            expect(mustReject(() => resolveOptions({ hosts: [h] })).option).toBe('hosts');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('two spellings of one endpoint are always a duplicate', () => {
    const spell = (host: string, port: number) =>
      fc
        .tuple(
          fc.constantFrom('', 'http://', 'HTTP://', 'Http://'),
          fc.boolean(),
          fc.boolean(),
          fc.integer({ min: 0, max: 3 }),
        )
        .map(
          ([scheme, upper, slash, zeros]) =>
            `${scheme}${upper ? host.toUpperCase() : host}:${'0'.repeat(zeros)}${port}${slash ? '/' : ''}`,
        );
    fc.assert(
      fc.property(
        fc.constantFrom('127.0.0.1', 'etcd-a', 'etcd.example'),
        fc.integer({ min: 1, max: 65_535 }),
        (host, port) => {
          fc.assert(
            fc.property(spell(host, port), spell(host, port), (a, b) => {
              const err = mustReject(() => resolveOptions({ hosts: [a, b] }));
              expect(err.option).toBe('hosts');
              expect(err.message).toMatch(/duplicate/);
            }),
            { numRuns: 5 },
          );
        },
      ),
      { numRuns: 50 },
    );
  });
});
