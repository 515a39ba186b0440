/**
 * Properties of the registry and discovery entry points with arbitrary input:
 * `register(client, options)` and `discover(client, service, options)` either
 * return a handle or throw InvalidOptionError (never a TypeError), and closing
 * what they return leaves no timer or socket behind. The client is closed
 * before the properties run, so nothing is dialled: this is about input
 * handling, not etcd (see integration/security/registry-input.test.ts).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { discover } from '../../lib/discovery/discovery';
import { DISCOVERY_KEYS } from '../../lib/discovery/options';
import { InvalidOptionError } from '../../lib/errors';
import { noopLogger } from '../../lib/logger';
import { register } from '../../lib/registry/register';
import { REGISTER_KEYS } from '../../lib/registry/register-options';
import { address, hostile, instanceId, prefix, serviceName } from './arbitraries';
import { activeResources, settleResources } from './resources';

let client: Etcd3;
let baseline: Record<string, number>;
const seen = { register: { ok: 0, invalid: 0 }, discover: { ok: 0, invalid: 0 } };

beforeAll(async () => {
  baseline = activeResources();
  client = new Etcd3({ hosts: '127.0.0.1:1' });
  await client.close();
});
afterAll(async () => {
  console.log(`registry properties: ${JSON.stringify(seen)}`);
  for (const s of Object.values(seen)) {
    expect(s.ok).toBeGreaterThan(10);
    expect(s.invalid).toBeGreaterThan(10);
  }
  expect(await settleResources(baseline)).toEqual({});
});

/** Returns the handle, undefined for InvalidOptionError; rethrows anything else. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      return undefined;
    }
    throw err;
  }
}

/** Hostile values, null-prototype objects (whose `String()` throws) included. */
const bad = () => hostile();
/** Valid value with weight 6, else hostile. */
const field = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: bad() });

const registerOptions = fc.record(
  {
    service: field(serviceName),
    addr: field(address),
    id: field(instanceId),
    metadata: fc.oneof({ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, bad()),
    ttlSeconds: field(fc.integer({ min: 2, max: 3600 })),
    prefix: field(prefix),
    selfHeal: field(fc.boolean()),
    sharedLease: field(fc.boolean()),
    // A health check only with `fn`, or a non-object that fails validation: an
    // accepted check without `fn` would dial the generated (maybe non-loopback) address.
    healthCheck: fc.oneof(
      fc.constant({ fn: () => true, intervalMs: 1000 }),
      fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null)),
    ),
    lease: field(fc.constant({ closeTimeoutMs: 50, callTimeoutMs: 50 })),
    logger: field(fc.constant(noopLogger)),
  },
  { requiredKeys: ['service', 'addr'] },
);

describe('register()', () => {
  test('returns a Registration or throws InvalidOptionError; close() always settles', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 8, arbitrary: registerOptions }, bad()),
        async options => {
          const reg = attempt(() => register(client, options as never));
          seen.register[reg ? 'ok' : 'invalid']++;
          if (reg) {
            await reg.close();
            expect(reg.state).toBe('closed');
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a hostile value in any single option is an InvalidOptionError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...REGISTER_KEYS), bad(), async (name, value) => {
        const reg = attempt(() =>
          register(client, { service: 's', addr: '127.0.0.1:1', [name]: value } as never),
        );
        seen.register[reg ? 'ok' : 'invalid']++;
        await reg?.close();
      }),
      { numRuns: 300 },
    );
  });

  test('a non-client first argument is an InvalidOptionError', () => {
    fc.assert(
      fc.property(bad(), notAClient => {
        expect(() => register(notAClient as never, { service: 's', addr: 'a:1' })).toThrow(
          InvalidOptionError,
        );
      }),
      { numRuns: 50 },
    );
  });
});

const discoveryOptions = fc.record(
  {
    prefix: field(prefix),
    logger: field(fc.constant(noopLogger)),
    stallTimeoutMs: field(fc.integer({ min: 100, max: 100_000 })),
    progressTimeoutMs: field(fc.integer({ min: 10, max: 10_000 })),
    requireLeader: field(fc.boolean()),
    pageSize: field(fc.integer({ min: 1, max: 10_000 })),
    retryInitialDelayMs: field(fc.integer({ min: 1, max: 100 })),
    retryMaxDelayMs: field(fc.integer({ min: 100, max: 10_000 })),
  },
  { requiredKeys: [] },
);

describe('discover()', () => {
  test('a hostile value in any single option is an InvalidOptionError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...DISCOVERY_KEYS), bad(), async (name, value) => {
        const d = attempt(() => discover(client, 'svc', { [name]: value } as never));
        seen.discover[d ? 'ok' : 'invalid']++;
        await d?.close();
      }),
      { numRuns: 300 },
    );
  });

  test('returns a Discovery or throws InvalidOptionError; close() always settles', async () => {
    await fc.assert(
      fc.asyncProperty(
        field(serviceName),
        fc.oneof({ weight: 8, arbitrary: discoveryOptions }, bad()),
        async (service, options) => {
          const d = attempt(() => discover(client, service as never, options as never));
          seen.discover[d ? 'ok' : 'invalid']++;
          if (d) {
            const ready = d.ready.then(
              () => 'ready',
              () => 'rejected',
            );
            await d.close();
            // Closed before its first listing: ready settles (rejects), nothing was found.
            expect(await ready).toBe('rejected');
            expect(d.snapshot()).toEqual([]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

// Once bugs: validators printed values with String(), which throws for a null-prototype
// object, so callers got a TypeError instead of InvalidOptionError.
describe('null-prototype option values give InvalidOptionError, not TypeError', () => {
  const nullProto = () => Object.create(null);
  const registerCases: Record<string, object> = {
    ttlSeconds: { ttlSeconds: nullProto() },
    'lease.keepaliveIntervalMs': { lease: { keepaliveIntervalMs: nullProto() } },
    'lease.callTimeoutMs': { lease: { callTimeoutMs: nullProto() } },
    'lease.writeConcurrency': { lease: { writeConcurrency: nullProto() } },
    'lease.backoff.initialDelayMs': { lease: { backoff: { initialDelayMs: nullProto() } } },
    'healthCheck.intervalMs': { healthCheck: { fn: () => true, intervalMs: nullProto() } },
    'healthCheck.timeoutMs': { healthCheck: { fn: () => true, timeoutMs: nullProto() } },
  };
  for (const [name, extra] of Object.entries(registerCases)) {
    test(`register ${name}`, () => {
      expect(() =>
        register(client, { service: 's', addr: '127.0.0.1:1', ...extra } as never),
      ).toThrow(InvalidOptionError);
    });
  }
  for (const name of [
    'stallTimeoutMs',
    'progressTimeoutMs',
    'pageSize',
    'retryInitialDelayMs',
    'retryMaxDelayMs',
  ]) {
    test(`discover ${name}`, () => {
      expect(() => discover(client, 's', { [name]: nullProto() } as never)).toThrow(
        InvalidOptionError,
      );
    });
  }
});
