/**
 * Property: any options object either resolves or is rejected with
 * InvalidOptionError (never a TypeError from deep inside etcd3 or grpc-js), and a
 * client built from accepted options closes without leaving a timer or socket.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { resolveOptions } from '../../lib/options';
import { hostile, hostsAreValid, loopbackHost, optionObjects, printerKillers } from './arbitraries';
import { activeResources, settleResources } from './resources';

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
