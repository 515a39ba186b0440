/**
 * Issue 10, "validate before doing anything", against real sockets and a real etcd:
 * every public entry point of the client given hostile values — getters and Proxy
 * traps that throw, cyclic and self-`toJSON` objects, huge strings, control
 * characters, non-finite numbers, wrong types — fails only with a typed error,
 * synchronously or promptly, and:
 *   - connects and sends nothing first: the client's hosts point at an HTTP/2 server
 *     on 127.0.0.1 that counts accepted connections and gRPC calls (streams);
 *   - writes nothing first: a real etcd's revision does not move.
 * Pure input-handling properties are in test/property/entry-points.test.ts; the
 * constructor, register/discover and createGrpcClient cases are in
 * hostile-entry-points.test.ts. This file: call options of the builders (adversary
 * finding B), lease/lock/election arguments (finding D).
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { cyclic, throwingGetter, throwingProxy } from '../../test/property/arbitraries';
import { callsWithOptions, expectTypedRefusal, hostileTargets, run } from './hostile-targets';

/**
 * An HTTP/2 server on 127.0.0.1 that counts accepted TCP connections and gRPC calls
 * (streams) and answers none of them: a client's connection to it stays up, so any
 * new connection or stream is something the code under test did.
 */
const targets = hostileTargets();
const { revision, atCounter } = targets;

/** Call options that are never valid: throwing getters and traps, a signal that is not one. */
const badCallOptionShapes = (): unknown[] => [
  throwingGetter('deadline'),
  throwingGetter('signal'),
  throwingProxy(),
  { signal: 'aborted' },
  { signal: throwingProxy() },
];

/** Hostile values that are never valid where a string/Buffer key, name or prefix is expected. */
const badKeys = (): unknown[] => [
  undefined,
  null,
  42,
  NaN,
  {},
  cyclic(),
  throwingProxy(),
  throwingGetter('length'),
  Symbol('k'),
  10n,
  () => 'k',
];

describe('builders, hostile call options', () => {
  it('call options whose getters/traps throw or whose signal is not an AbortSignal are InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, options] of badCallOptionShapes().entries()) {
      for (const call of callsWithOptions(options)) {
        const { out, connections } = await atCounter(call);
        expectTypedRefusal(out, `call options #${i}`);
        expect(out.value, `call options #${i}`).toBeInstanceOf(InvalidOptionError);
        expect(connections, `call options #${i}`).toBe(0);
        const real = await run(() => call(targets.etcd));
        expect(real.value, `call options #${i} on etcd`).toBeInstanceOf(InvalidOptionError);
      }
    }
    expect(await revision()).toBe(rev);
  });
});

describe('client.lease(ttl, options)', () => {
  const badTtls = [NaN, Infinity, -Infinity, -1, 0, 0.5, 1e20, '10', null, {}, cyclic(), 10n];
  it('a bad TTL is InvalidOptionError at once, before any connection', async () => {
    for (const ttl of badTtls) {
      const { out, connections } = await atCounter(c => c.lease(ttl as never));
      expectTypedRefusal(out, `lease(${typeof ttl === 'bigint' ? 'bigint' : String(ttl)})`);
      expect(out.value).toBeInstanceOf(InvalidOptionError);
      // Drop-in: etcd3 throws a RangeError for a TTL below 1; so do we (InvalidTtlError).
      expect(out.value).toBeInstanceOf(RangeError);
      expect(connections).toBe(0);
    }
  });

  it('bad lease options are InvalidOptionError at once, before any connection', async () => {
    const badOptions = [
      throwingProxy(),
      throwingGetter('autoKeepAlive'),
      { autoKeepAlive: 'yes' },
      ...badCallOptionShapes(),
      'x',
    ];
    for (const [i, options] of badOptions.entries()) {
      const { out, connections } = await atCounter(c => c.lease(10, options as never));
      expectTypedRefusal(out, `lease options #${i}`);
      expect(out.value).toBeInstanceOf(InvalidOptionError);
      expect(connections).toBe(0);
    }
  });
});

describe('lock(key), election(name), namespace(prefix)', () => {
  it('a bad lock key or lock TTL is InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, key] of badKeys().entries()) {
      const { out, connections } = await atCounter(c => c.lock(key as never).acquire());
      expectTypedRefusal(out, `lock key #${i}`);
      expect(connections, `lock key #${i}`).toBe(0);
      expect((await run(() => targets.etcd.lock(key as never).acquire())).value).toBeInstanceOf(
        InvalidOptionError,
      );
    }
    for (const ttl of [NaN, -1, 0, Infinity, '5']) {
      const { out, connections } = await atCounter(c =>
        c
          .lock('k')
          .ttl(ttl as never)
          .acquire(),
      );
      expectTypedRefusal(out, `lock ttl ${String(ttl)}`);
      expect(connections).toBe(0);
    }
    expect(await revision()).toBe(rev);
  });

  it('a bad election name or TTL is InvalidOptionError, before any connection or write', async () => {
    const rev = await revision();
    for (const [i, name] of badKeys().entries()) {
      const { out, connections } = await atCounter(c => c.election(name as never).campaign('v'));
      expectTypedRefusal(out, `election name #${i}`);
      expect(connections, `election name #${i}`).toBe(0);
    }
    for (const ttl of [NaN, -1, 0, Infinity, '5']) {
      const { out, connections } = await atCounter(c =>
        c.election('e', ttl as never).campaign('v'),
      );
      expectTypedRefusal(out, `election ttl ${String(ttl)}`);
      expect(connections).toBe(0);
    }
    expect(await revision()).toBe(rev);
  });
});
