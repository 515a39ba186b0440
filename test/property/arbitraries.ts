/**
 * fast-check arbitraries shared by the property tests: hostile values of every
 * JavaScript shape, and option objects that mix valid fields with hostile ones.
 */
import fc from 'fast-check';
import { noopLogger } from '../../lib/logger';
import { resolveOptions } from '../../lib/options';
import { TEST_CA_PEM, TEST_CLIENT_CERT_PEM, TEST_CLIENT_KEY_PEM } from './pem-fixtures';

/** Any value at all, including null-prototype objects, BigInts, boxed values, typed arrays, Maps, sparse arrays. */
export const hostile = (): fc.Arbitrary<unknown> =>
  fc.anything({
    maxDepth: 2,
    maxKeys: 4,
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withNullPrototype: true,
    withObjectString: true,
    withSet: true,
    withSparseArray: true,
    withTypedArray: true,
  });

/** Like {@link hostile} but without null-prototype objects, whose `String()` throws. */
export const printable = (): fc.Arbitrary<unknown> =>
  fc.anything({
    maxDepth: 2,
    maxKeys: 4,
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withSparseArray: true,
    withTypedArray: true,
  });

/**
 * Values JSON cannot print and `String()` cannot convert: the usual crash triggers in
 * error messages. (An object whose getters throw is left out: reading it rethrows the
 * caller's own error, which is fine.)
 */
export const printerKillers = (): fc.Arbitrary<unknown> =>
  fc.constantFrom<unknown>(
    Object.create(null),
    10n,
    Symbol('s'),
    {
      toString: () => {
        throw new Error('toString exploded');
      },
    },
    {
      valueOf: () => {
        throw new Error('valueOf exploded');
      },
      toString: undefined,
    },
    (() => {
      const o: any = {};
      o.self = o;
      return o;
    })(),
  );

const validMs = fc.integer({ min: 5000, max: 100_000 });
const edgeMs = fc.oneof(
  fc.integer({ min: -10, max: 4999 }),
  fc.double(),
  fc.constantFrom(0, 1, 4999, 2 ** 31, NaN, Infinity),
);

/** A loopback host that refuses connections quickly (port 1) or a port nobody listens on. */
export const loopbackHost = fc.constantFrom(
  '127.0.0.1:1',
  'http://127.0.0.1:1',
  '127.0.0.1:9',
  'http://[::1]:1',
);

/** Host strings and lists of every shape; valid ones may name any host, so only for resolveOptions. */
const anyHosts = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.oneof(
      loopbackHost,
      fc.domain().map(d => `${d}:2379`),
    ),
  },
  fc.string(),
  fc.array(
    fc.oneof(
      fc.string(),
      fc.webUrl(),
      fc.domain().map(d => `${d}:2379`),
      loopbackHost,
    ),
    { maxLength: 4 },
  ),
  fc.constantFrom(
    'https://127.0.0.1:1',
    ['http://a:1', 'https://b:1'],
    ['x:1', 'x:1'],
    [],
    'http://[::1',
    'host:99999',
  ),
);

const buffer = fc.uint8Array({ maxLength: 8 }).map(a => Buffer.from(a));

/** Per field: a valid value and an edge/hostile one. */
function fields(
  hosts: fc.Arbitrary<unknown>,
): Record<string, [fc.Arbitrary<unknown>, fc.Arbitrary<unknown>]> {
  const ms = (): [fc.Arbitrary<unknown>, fc.Arbitrary<unknown>] => [validMs, edgeMs];
  return {
    hosts: [hosts, fc.oneof(hostile(), fc.string())],
    callTimeoutMs: ms(),
    attemptTimeoutMs: ms(),
    connectTimeoutMs: ms(),
    dialTimeout: ms(),
    closeTimeoutMs: ms(),
    autoSyncIntervalMs: [fc.constant(0), edgeMs],
    keepalive: [
      fc.record(
        { timeMs: validMs, timeoutMs: validMs, permitWithoutCalls: fc.boolean() },
        { requiredKeys: [] },
      ),
      fc.record(
        { timeMs: edgeMs, timeoutMs: edgeMs, permitWithoutCalls: hostile() },
        { requiredKeys: [] },
      ),
    ],
    retry: [
      fc.record(
        {
          maxAttempts: fc.integer({ min: 0, max: 100 }),
          initialDelayMs: fc.integer({ min: 0, max: 50 }),
          maxDelayMs: fc.integer({ min: 50, max: 5000 }),
        },
        { requiredKeys: [] },
      ),
      fc.record(
        {
          maxAttempts: fc.oneof(fc.integer(), fc.double()),
          initialDelayMs: edgeMs,
          maxDelayMs: edgeMs,
        },
        { requiredKeys: [] },
      ),
    ],
    breaker: [
      fc.record(
        { consecutiveFailures: fc.integer({ min: 1, max: 1000 }), halfOpenAfterMs: validMs },
        { requiredKeys: [] },
      ),
      fc.record(
        { consecutiveFailures: fc.oneof(fc.integer(), fc.double()), halfOpenAfterMs: edgeMs },
        { requiredKeys: [] },
      ),
    ],
    rebuild: [
      fc.record(
        {
          transientFailureMs: validMs,
          initialBackoffMs: fc.integer({ min: 0, max: 100 }),
          maxBackoffMs: validMs,
        },
        { requiredKeys: [] },
      ),
      fc.record(
        { transientFailureMs: edgeMs, initialBackoffMs: edgeMs, maxBackoffMs: edgeMs },
        { requiredKeys: [] },
      ),
    ],
    auth: [
      fc.record({ username: fc.string({ minLength: 1 }), password: fc.string() }),
      fc.record({ username: hostile(), password: hostile() }, { requiredKeys: [] }),
    ],
    credentials: [
      fc.constantFrom(
        { rootCertificate: TEST_CA_PEM },
        {
          rootCertificate: TEST_CA_PEM,
          privateKey: TEST_CLIENT_KEY_PEM,
          certChain: TEST_CLIENT_CERT_PEM,
        },
      ),
      fc.oneof(
        fc.record(
          {
            rootCertificate: fc.oneof(buffer, hostile()),
            privateKey: fc.oneof(buffer, hostile()),
            certChain: hostile(),
          },
          { requiredKeys: [] },
        ),
        // Valid PEM, wrong pairing: a key with the CA's certificate, or half a pair.
        fc.constantFrom(
          { rootCertificate: TEST_CA_PEM, privateKey: TEST_CLIENT_KEY_PEM, certChain: TEST_CA_PEM },
          { rootCertificate: TEST_CA_PEM, privateKey: TEST_CLIENT_KEY_PEM },
          { rootCertificate: TEST_CLIENT_KEY_PEM },
        ),
      ),
    ],
    grpcOptions: [
      fc.dictionary(
        fc.constantFrom('grpc.max_receive_message_length', 'grpc.primary_user_agent', 'x-custom'),
        fc.oneof(fc.integer({ min: 1 }), fc.string()),
        { maxKeys: 2 },
      ),
      fc.oneof(
        hostile(),
        fc.dictionary(
          fc.constantFrom(
            'grpc.service_config',
            'grpc.default_authority',
            'grpc.keepalive_time_ms',
          ),
          hostile(),
          { maxKeys: 2 },
        ),
      ),
    ],
    defaultCallOptions: [
      fc.record({ deadline: fc.constant(undefined) }, { requiredKeys: [] }),
      hostile(),
    ],
    faultHandling: [
      fc.constant({}),
      fc.record(
        { host: hostile(), global: hostile(), watchBackoff: hostile() },
        { requiredKeys: [] },
      ),
    ],
    logger: [fc.constantFrom(undefined, noopLogger), hostile()],
  };
}

/**
 * An object shaped like `ResilientEtcdOptions`: a random subset of fields with valid
 * values, of which none, one or several are replaced by edge or hostile values.
 * @param hosts valid `hosts` values; defaults to any host (use a loopback-only
 *   arbitrary when the options are given to a client that dials).
 */
export function optionObjects(
  hosts: fc.Arbitrary<unknown> = anyHosts,
): fc.Arbitrary<Record<string, unknown>> {
  const table = fields(hosts);
  const names = Object.keys(table);
  const valid = fc.record(Object.fromEntries(names.map(n => [n, table[n]![0]])), {
    requiredKeys: [],
  });
  const bad = (name: string) => fc.oneof(table[name]![1], printerKillers());
  const withBad = (count: fc.Arbitrary<number>) =>
    fc
      .tuple(
        valid,
        count.chain(n => fc.uniqueArray(fc.constantFrom(...names), { minLength: n, maxLength: n })),
      )
      .chain(([base, badNames]) =>
        fc.tuple(...badNames.map(bad)).map(values => ({
          ...base,
          ...Object.fromEntries(badNames.map((n, i) => [n, values[i]])),
        })),
      );
  return fc.oneof(
    { weight: 2, arbitrary: valid as fc.Arbitrary<Record<string, unknown>> },
    { weight: 3, arbitrary: withBad(fc.constant(1)) },
    { weight: 1, arbitrary: withBad(fc.integer({ min: 2, max: 5 })) },
  );
}

/** True if `hosts` alone passes validation (so a client would dial it). */
export function hostsAreValid(hosts: unknown): boolean {
  try {
    resolveOptions({ hosts } as never);
    return true;
  } catch {
    return false;
  }
}

// ---- registry records ----

/** One key segment of a service name. */
export const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/);
/** Valid service names: 1-3 segments. */
export const serviceName = fc.array(segment, { minLength: 1, maxLength: 3 }).map(s => s.join('/'));
/** Valid instance ids. */
export const instanceId = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/);
/** Valid prefixes: '' or printable ASCII ending in '/'. */
export const prefix = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^[\x21-\x7e]{0,20}$/).map(p => `${p}/`),
);
const host = fc.oneof(
  fc.ipV4(),
  fc.domain().filter(d => d.length < 200),
  fc
    .ipV6()
    .map(ip => `[${ip}]`)
    .filter(h => /^\[[0-9A-Fa-f:.]+\]$/.test(h)),
);
/** Valid addresses `host:port`. */
export const address = fc
  .tuple(host, fc.integer({ min: 1, max: 65535 }))
  .map(([h, p]) => `${h}:${p}`);

// ---- hostile shapes (issue 10: every public entry point) ----

/**
 * A Proxy each of whose traps throws for string keys (reading, listing or testing a
 * key). Symbol keys answer normally, so fast-check itself can handle the value.
 */
export function throwingProxy(): object {
  const boom = (trap: string) => {
    throw new Error(`proxy trap ${trap} exploded`);
  };
  return new Proxy(
    {},
    {
      get: (t, k) => (typeof k === 'symbol' ? Reflect.get(t, k) : boom('get')),
      has: (t, k) => (typeof k === 'symbol' ? Reflect.has(t, k) : boom('has')),
      ownKeys: () => boom('ownKeys'),
      getOwnPropertyDescriptor: (t, k) =>
        typeof k === 'symbol' ? Reflect.getOwnPropertyDescriptor(t, k) : boom('gOPD'),
    },
  );
}

/** An object whose `key` getter throws (enumerable, so `Object.keys` lists it). */
export function throwingGetter(key: string): object {
  return Object.defineProperty({}, key, {
    enumerable: true,
    get() {
      throw new Error(`getter ${key} exploded`);
    },
  });
}

/** `{ self: <itself> }`. */
export function cyclic(): object {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
}

/** An object whose `toJSON` returns itself, and one whose `toJSON` returns another `toJSON`er, 50 deep. */
export function selfToJson(): object[] {
  const self = {
    toJSON() {
      return self;
    },
  };
  let nested: object = { ok: true };
  for (let i = 0; i < 50; i++) {
    const inner = nested;
    nested = { toJSON: () => inner };
  }
  return [self, nested];
}

/** A 2 MiB string, control characters, non-finite numbers. */
export const hostileScalars = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.constantFrom<unknown>(
      'x'.repeat(2 * 1024 * 1024),
      '\u0000\u001b[2J\r\n\u202e',
      NaN,
      Infinity,
      -Infinity,
      -0,
      2 ** 53 + 1,
      -1,
      '',
    ),
    fc.string({ unit: 'binary', maxLength: 20 }),
  );

/**
 * Hostile values for an options object with keys `keys`: throwing Proxies and getters
 * (for each key), cyclic and self-`toJSON` objects, huge strings, control characters,
 * non-finite numbers, and anything else ({@link hostile}).
 */
export function hostileShape(keys: readonly string[] = ['x']): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(null).map(() => throwingProxy()),
    fc.constantFrom(...keys).map(k => throwingGetter(k)),
    fc.constant(null).map(() => cyclic()),
    fc.constantFrom(0, 1).map(i => selfToJson()[i]),
    hostileScalars(),
    hostile(),
    printerKillers(),
  );
}

/**
 * A valid base object with each listed field replaced, or not, by a
 * {@link hostileShape}/{@link hostileScalars} value (at least one replaced), plus
 * sometimes a typo key.
 */
export function withHostileField(
  base: Record<string, unknown>,
  fields: readonly string[],
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.uniqueArray(fc.constantFrom(...fields), { minLength: 1, maxLength: 3 }),
      fc.array(fc.oneof(hostileShape(fields), hostileScalars()), { minLength: 3, maxLength: 3 }),
      fc.option(fc.constantFrom('tiemout', 'prefx', 'ttl', '__proto__x'), { nil: undefined }),
    )
    .map(([names, values, typo]) => {
      const o: Record<string, unknown> = { ...base };
      names.forEach((n, i) => (o[n] = values[i]));
      if (typo !== undefined) o[typo] = 1;
      return o;
    });
}
