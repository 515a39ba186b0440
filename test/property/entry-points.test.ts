/**
 * Issue 10, "validate before doing anything": every public entry point that takes
 * options (other than the client's own, see options.test.ts, and createGrpcClient's,
 * see test/grpc/hostile-options.test.ts) given hostile values — getters and Proxy
 * traps that throw, cyclic and self-`toJSON` objects, huge strings, control
 * characters, non-finite numbers, wrong types, typo keys — either works or throws
 * `InvalidOptionError` (or its documented error class) synchronously, before
 * anything is registered, spawned or listened on. Entry points that need a live
 * client are in integration/security/hostile-entry-points.test.ts.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Etcd3 } from '../../lib/client';
import { discover } from '../../lib/discovery/discovery';
import { DISCOVERY_KEYS } from '../../lib/discovery/options';
import { InvalidOptionError } from '../../lib/errors';
import { isEtcdResolverRegistered, registerEtcdResolver } from '../../lib/grpc/resolver';
import { main as cliMain } from '../../lib/cli/main';
import { instrument } from '../../lib/metrics';
import { DurableLease } from '../../lib/registry/durable-lease';
import { DURABLE_LEASE_KEYS } from '../../lib/registry/lease-options';
import { register } from '../../lib/registry/register';
import { REGISTER_KEYS } from '../../lib/registry/register-options';
import { installShutdownHandlers } from '../../lib/registry/shutdown';
import { EtcdNotFoundError, EtcdStartError, startEtcd, startProxy } from '../../lib/testing';
import { START_ETCD_KEYS } from '../../lib/testing/etcd-cluster';
import { hostileScalars, hostileShape, throwingProxy, withHostileField } from './arbitraries';

let client: Etcd3;
beforeAll(async () => {
  // Closed: nothing can be dialled, so these properties are about input handling only.
  client = new Etcd3({ hosts: '127.0.0.1:1' });
  await client.close();
});

const seen: Record<string, { ok: number; invalid: number }> = {};
afterAll(() => {
  console.log(`entry-point properties: ${JSON.stringify(seen)}`);
  for (const [name, s] of Object.entries(seen)) {
    // Both outcomes must be exercised (except where valid input cannot be generated cheaply).
    expect(s.invalid, name).toBeGreaterThan(5);
  }
});

/** `fn()`'s value, or undefined if it threw one of `typed`; anything else is rethrown. */
function okOrTyped<T>(
  name: string,
  fn: () => T,
  typed: readonly (new (...a: any[]) => Error)[] = [InvalidOptionError],
): T | undefined {
  const s = (seen[name] ??= { ok: 0, invalid: 0 });
  try {
    const value = fn();
    s.ok++;
    return value;
  } catch (err) {
    if (typed.some(C => err instanceof C)) {
      s.invalid++;
      if (err instanceof InvalidOptionError) {
        expect(typeof err.option).toBe('string');
        expect(err.message.length).toBeLessThan(1000);
      }
      return undefined;
    }
    throw err;
  }
}

/**
 * `options` with `key` set to `value` when `options` is a plain readable object
 * without it (so a valid run cannot touch a shared registry or spawn etcd); any other
 * value, including one whose getters throw, unchanged.
 */
function withField(options: unknown, key: string, value: unknown): unknown {
  if (!options || typeof options !== 'object' || Array.isArray(options)) return options;
  try {
    return key in options ? options : { ...options, [key]: value };
  } catch {
    return options;
  }
}

const validRegister = { service: 'orders', addr: '127.0.0.1:8080' };
const registerFields = [...REGISTER_KEYS];

describe('register(client, options)', () => {
  test('hostile options: a registration or InvalidOptionError, synchronously', async () => {
    const handles: { close(): Promise<void> }[] = [];
    fc.assert(
      fc.property(
        fc.oneof(hostileShape(registerFields), withHostileField(validRegister, registerFields)),
        options => {
          const reg = okOrTyped('register', () => register(client, options as never));
          if (reg) handles.push(reg);
        },
      ),
      { numRuns: 200 },
    );
    await Promise.all(handles.map(h => h.close().catch(() => undefined)));
  });

  test('hostile nested options (lease, lease.backoff, healthCheck)', async () => {
    const handles: { close(): Promise<void> }[] = [];
    const nested = fc.oneof(
      hostileShape(['keepaliveIntervalMs', 'backoff']).map(lease => ({ ...validRegister, lease })),
      hostileShape(['initialDelayMs']).map(backoff => ({ ...validRegister, lease: { backoff } })),
      hostileShape(['tcp', 'fn', 'intervalMs']).map(healthCheck => ({
        ...validRegister,
        healthCheck,
      })),
    );
    fc.assert(
      fc.property(nested, options => {
        const reg = okOrTyped('register nested', () => register(client, options as never));
        if (reg) handles.push(reg);
      }),
      { numRuns: 150 },
    );
    await Promise.all(handles.map(h => h.close().catch(() => undefined)));
  });

  test('a hostile client is InvalidOptionError', () => {
    fc.assert(
      fc.property(hostileShape(['put', 'leaseClient']), c => {
        okOrTyped('register client', () => register(c as never, validRegister));
      }),
      { numRuns: 100 },
    );
  });
});

const discoverFields = [...DISCOVERY_KEYS];

describe('discover(client, service, options)', () => {
  test('hostile service or options: a discovery or InvalidOptionError, synchronously', async () => {
    const handles: { close(): Promise<void> }[] = [];
    fc.assert(
      fc.property(
        fc.oneof(fc.constant('orders'), hostileScalars(), hostileShape()),
        fc.oneof(hostileShape(discoverFields), withHostileField({}, discoverFields)),
        (service, options) => {
          const d = okOrTyped('discover', () =>
            discover(client, service as never, options as never),
          );
          if (d) handles.push(d);
        },
      ),
      { numRuns: 200 },
    );
    await Promise.all(handles.map(h => h.close().catch(() => undefined)));
  });
});

describe('registerEtcdResolver(client, options)', () => {
  const resolverFields = ['scheme', ...discoverFields];
  test('hostile client or options: a disposer or InvalidOptionError, nothing registered', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: hostileShape(['pool', 'put']) },
        ),
        fc.oneof(
          hostileShape(resolverFields),
          withHostileField({ scheme: 'advprop' }, resolverFields),
          fc.constant({ scheme: 'advprop' }),
        ),
        (badClient, options) => {
          const before = isEtcdResolverRegistered('advprop');
          const dispose = okOrTyped('registerEtcdResolver', () =>
            registerEtcdResolver((badClient ?? client) as never, options as never),
          );
          if (dispose) {
            dispose();
          } else {
            expect(isEtcdResolverRegistered('advprop')).toBe(before);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test('a client that is not an etcd client is refused (it would shadow a working registration)', () => {
    for (const bad of [undefined, null, {}, 'etcd', throwingProxy()]) {
      expect(() => registerEtcdResolver(bad as never, { scheme: 'advbad' })).toThrow(
        InvalidOptionError,
      );
      expect(isEtcdResolverRegistered('advbad')).toBe(false);
    }
  });
});

describe('instrument(client, options)', () => {
  const instrumentFields = [
    'registry',
    'prefix',
    'callDurationBuckets',
    'registrations',
    'discoveries',
  ];
  test('hostile client or options: an instrumentation or InvalidOptionError', () => {
    const live = new Etcd3({ hosts: '127.0.0.1:1' });
    try {
      fc.assert(
        fc.property(
          fc.oneof(
            { weight: 3, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: hostileShape(['onCall', 'health']) },
          ),
          fc.oneof(
            hostileShape(instrumentFields),
            withHostileField({}, instrumentFields),
            fc.constant({}),
          ),
          (badClient, options) => {
            const o = withField(options, 'registry', new Registry());
            const i = okOrTyped('instrument', () =>
              instrument((badClient ?? live) as never, o as never),
            );
            i?.dispose();
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      void live.close();
    }
  });
});

describe('lib/testing: startEtcd(options), startProxy(options)', () => {
  // Every option but etcdBin, which the test pins to /bin/false.
  const etcdFields = START_ETCD_KEYS.filter(k => k !== 'etcdBin');
  test('startEtcd: hostile options reject with InvalidOptionError or a start error, nothing spawned', async () => {
    // etcdBin is /bin/false, so options that pass validation fail at the binary check:
    // no etcd is ever started here.
    const samples = fc.sample(
      fc.oneof(hostileShape(etcdFields), withHostileField({}, etcdFields)),
      { numRuns: 100, seed: 10 },
    );
    for (const options of samples) {
      const opts = withField(options, 'etcdBin', '/bin/false');
      let started: unknown;
      const err = await startEtcd(opts as never).then(
        c => {
          started = c;
        },
        e => e,
      );
      expect(started, 'an etcd was started').toBeUndefined();
      expect(
        [InvalidOptionError, EtcdStartError, EtcdNotFoundError].some(C => err instanceof C),
        String(err?.stack),
      ).toBe(true);
      (seen.startEtcd ??= { ok: 0, invalid: 0 }).invalid++;
    }
  });

  test('startProxy: hostile options reject with InvalidOptionError, nothing listened on', async () => {
    const samples = fc.sample(
      fc.oneof(
        hostileShape(['target', 'port']),
        withHostileField({ target: '127.0.0.1:1' }, ['target', 'port']),
        fc.constant({ target: '127.0.0.1:1' }),
      ),
      { numRuns: 100, seed: 11 },
    );
    for (const options of samples) {
      const result = await startProxy(options as never).then(
        p => ({ p }),
        e => ({ e }),
      );
      if ('p' in result) {
        await result.p.close();
        (seen.startProxy ??= { ok: 0, invalid: 0 }).ok++;
        continue;
      }
      expect(result.e, String(result.e?.stack)).toBeInstanceOf(InvalidOptionError);
      (seen.startProxy ??= { ok: 0, invalid: 0 }).invalid++;
    }
  });
});

describe('new DurableLease(client, options), installShutdownHandlers(closables, options)', () => {
  const leaseFields = DURABLE_LEASE_KEYS;
  test('DurableLease: hostile client or options give InvalidOptionError', async () => {
    const handles: { close(): Promise<void> }[] = [];
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: hostileShape(['put', 'leaseClient']) },
        ),
        fc.oneof(
          hostileShape(leaseFields),
          withHostileField({ ttlSeconds: 5 }, leaseFields),
          fc.constant({ ttlSeconds: 5 }),
        ),
        (badClient, options) => {
          const lease = okOrTyped(
            'DurableLease',
            () => new DurableLease((badClient ?? client) as never, options as never),
          );
          if (lease) handles.push(lease);
        },
      ),
      { numRuns: 150 },
    );
    await Promise.all(handles.map(h => h.close().catch(() => undefined)));
  });

  test('installShutdownHandlers: hostile closables or options give InvalidOptionError, no handler left', () => {
    const before = process.listenerCount('SIGTERM');
    const closable = { close: async () => undefined };
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant([closable]) },
          { weight: 1, arbitrary: hostileShape(['close', 'length']) },
          { weight: 1, arbitrary: hostileShape(['close']).map(c => [c]) },
        ),
        fc.oneof(
          hostileShape(['signals', 'timeoutMs', 'exit', 'logger']),
          withHostileField({ exit: false }, ['signals', 'timeoutMs', 'exit', 'logger']),
          fc.constant({ exit: false }),
        ),
        (closables, options) => {
          const handle = okOrTyped('installShutdownHandlers', () =>
            installShutdownHandlers(closables as never, withField(options, 'exit', false) as never),
          );
          handle?.dispose();
          expect(process.listenerCount('SIGTERM')).toBe(before);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('CLI main(argv)', () => {
  // Endpoints are always loopback (refused) or unparsable: nothing is dialled off the
  // machine and no name is looked up. --watch and --keepalive (long-running) are left out.
  const endpoint = fc.constantFrom(
    '127.0.0.1:1',
    'http://127.0.0.1:1',
    'http://user:secretpw@127.0.0.1:1',
    '\u001b[2J127.0.0.1:1',
    'http://127.0.0.1:0',
    '127.0.0.1:99999',
    '[::1',
    '',
  );
  const hostileText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom('\u0000', '\u001b]0;pwned\u0007', 'x'.repeat(100_000), 'NaN', '-1', '1e400'),
  );
  const flag = fc.oneof(
    endpoint.map(e => ['--endpoints', e]),
    fc
      .oneof(hostileText, fc.constantFrom('1', '200', '99999999999', 'Infinity'))
      .map(t => ['--timeout', t]),
    hostileText.map(t => ['--prefix', t]),
    hostileText.map(t => ['--user', t]),
    hostileText.map(t => ['--password-env', t]),
    hostileText.map(t => ['--cacert', t]),
    hostileText.map(t => ['--keepalive-time-ms', t]),
    fc.constantFrom(['--json'], ['--help'], ['-h'], ['--version'], ['--bogus'], ['-z']),
  );
  const argv = fc
    .tuple(
      fc.oneof(fc.constantFrom('doctor', 'services', 'help', 'bogus'), hostileText),
      fc.array(flag, { maxLength: 4 }),
      fc.option(hostileText, { nil: undefined }),
    )
    .map(([cmd, flags, positional]) => {
      const a = [cmd, ...flags.flat()];
      if (positional !== undefined) a.push(positional);
      // Bound every run: a short timeout unless the flags set one.
      return a.includes('--timeout') ? a : [...a, '--timeout', '300'];
    });

  test('always an exit code 0/1/2, never a throw; output escaped and free of passwords', async () => {
    const samples = fc.sample(argv, { numRuns: 120, seed: 12 });
    for (const args of samples) {
      let out = '';
      const io = { out: (t: string) => (out += t), err: (t: string) => (out += t) };
      const code = await cliMain(args, io as never);
      expect([0, 1, 2], JSON.stringify(args).slice(0, 300)).toContain(code);
      // No raw control character other than newline and tab reaches the terminal.
      expect(/[\u0000-\u0008\u000b-\u001f\u007f\u0080-\u009f]/.test(out), out.slice(0, 300)).toBe(
        false,
      );
      expect(out).not.toContain('secretpw');
      (seen.cli ??= { ok: 0, invalid: 0 })[code === 2 ? 'invalid' : 'ok']++;
    }
  });
});

// grpc is imported so the resolver registry used above is the one createGrpcClient uses.
void grpc;
