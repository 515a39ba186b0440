import { describe, expect, it } from 'vitest';
import * as fc from 'fast-check';
import { Etcd3 } from 'etcd3';
import { InvalidOptionError } from '../../lib/errors';
import { register } from '../../lib/registry/register';
import { defaultInstanceId, resolveRegisterOptions } from '../../lib/registry/register-options';
import { assertJsonSerializable } from '../../lib/registry/serializable';
import { goNamingCodec, idFromKey, instanceKey, type RecordCodec } from '../../lib/service-record';

// A client that must never be called: validation happens before any I/O.
const exec = () => {
  throw new Error('no call expected');
};
const mockClient = () => {
  const c = new Etcd3({ hosts: '127.0.0.1:1' });
  c.mock({ exec, withConnection: exec } as any);
  return c;
};

const base = { service: 'orders', addr: '10.0.0.5:8080', id: 'i1' };

function rejects(opts: Record<string, unknown>, option: string) {
  const c = mockClient();
  let error: unknown;
  try {
    register(c, { ...base, ...opts } as any);
  } catch (err) {
    error = err;
  } finally {
    c.close();
  }
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect((error as InvalidOptionError).option).toBe(option);
  expect((error as InvalidOptionError).code).toBe('ERESILIENT_INVALID_OPTION');
}

describe('register() validation (typed errors, before any write)', () => {
  it.each([
    ['service', ''],
    ['service', '/orders'],
    ['service', 'orders/'],
    ['service', 'a b'],
    ['service', 'x'.repeat(201)],
    ['service', 42],
    ['service', undefined],
  ])('rejects %s = %j', (option, value) => rejects({ [option]: value }, option));

  it.each([
    ['addr', 'orders'],
    ['addr', '10.0.0.5'],
    ['addr', '10.0.0.5:0'],
    ['addr', '10.0.0.5:70000'],
    ['addr', '::1:80'],
    ['addr', 'http://10.0.0.5:80'],
    ['addr', ''],
    ['addr', null],
  ])('rejects %s = %j', (option, value) => rejects({ [option]: value }, option));

  it.each([
    ['id', 'a/b'],
    ['id', ''],
    ['id', 'x'.repeat(201)],
    ['id', 'a b'],
    ['id', 7],
  ])('rejects %s = %j', (option, value) => rejects({ [option]: value }, option));

  it.each([0, 1, 2.5, 3601, -5, NaN, Infinity, '10'])('rejects ttlSeconds = %j', ttl =>
    rejects({ ttlSeconds: ttl }, 'ttlSeconds'),
  );

  it.each(['svc', '/svc', 'a b/'])('rejects prefix = %j', prefix => rejects({ prefix }, 'prefix'));

  it('rejects metadata that JSON cannot represent faithfully', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    for (const metadata of [
      cyclic,
      { n: 10n },
      { f: () => 1 },
      { s: Symbol('x') },
      { x: NaN },
      [1, undefined],
      new Map([[1, 2]]),
      { deep: { er: { big: 1n } } },
    ]) {
      rejects({ metadata }, 'metadata');
    }
    rejects({ metadata: { blob: 'x'.repeat(1024 * 1024 + 1) } }, 'metadata');
  });

  it('names the offending path in the message', () => {
    expect(() => assertJsonSerializable({ a: [1, { b: 2n }] }, 'metadata')).toThrow(
      /metadata\.a\[1\]\.b is a BigInt/,
    );
  });

  it('accepts shared (non-cyclic) references, Dates, and undefined properties', () => {
    const shared = { x: 1 };
    expect(() =>
      assertJsonSerializable({ a: shared, b: shared, d: new Date(0), u: undefined }, 'm'),
    ).not.toThrow();
  });

  it('rejects bad codecs, loggers, health checks and flags', () => {
    rejects({ codec: { encode: 1 } }, 'codec');
    rejects({ codec: { encode: () => 5, decode: () => undefined } }, 'codec');
    rejects(
      {
        codec: {
          encode: () => {
            throw new Error('no');
          },
          decode: () => undefined,
        },
      },
      'codec',
    );
    rejects({ logger: console.log }, 'logger');
    rejects({ healthCheck: { tcp: 'nope' } }, 'healthCheck.tcp');
    rejects({ healthCheck: { intervalMs: 0 } }, 'healthCheck.intervalMs');
    rejects({ healthCheck: { fn: 'yes' } }, 'healthCheck.fn');
    rejects({ selfHeal: 'yes' }, 'selfHeal');
    rejects({ lease: { callTimeoutMs: -1 } }, 'callTimeoutMs');
  });

  it('reports values whose String() throws (null-prototype objects) as typed errors, not TypeErrors', () => {
    const np = () => Object.create(null);
    rejects({ ttlSeconds: np() }, 'ttlSeconds');
    rejects({ lease: { keepaliveIntervalMs: np() } }, 'keepaliveIntervalMs');
    rejects({ lease: { writeConcurrency: np() } }, 'writeConcurrency');
    rejects({ lease: { backoff: { initialDelayMs: np() } } }, 'backoff.initialDelayMs');
    rejects({ healthCheck: { fn: () => true, intervalMs: np() } }, 'healthCheck.intervalMs');
    rejects({ healthCheck: { fn: () => true, timeoutMs: np() } }, 'healthCheck.timeoutMs');
    rejects(
      {
        codec: {
          encode: () => {
            throw np();
          },
          decode: () => undefined,
        },
      },
      'codec',
    );
    rejects(
      {
        metadata: {
          d: {
            toJSON: () => {
              throw np();
            },
          },
        },
      },
      'metadata',
    );
  });

  it('rejects something that is not an etcd3 client', () => {
    expect(() => register({} as any, base)).toThrow(InvalidOptionError);
  });
});

describe('register options', () => {
  it('defaults: TTL 10, empty prefix, Go codec, generated stable id', () => {
    const c = mockClient();
    const r = resolveRegisterOptions(c, { service: 'orders', addr: '[::1]:8080' });
    c.close();
    expect(r.lease.ttlSeconds).toBe(10);
    expect(r.key).toBe(`orders/${r.instance.id}`);
    expect(r.value).toBe('{"Op":0,"Addr":"[::1]:8080","Metadata":null}');
    expect(r.lease.keepaliveIntervalMs).toBe(3333);
    expect(r.selfHeal).toBe(true);
    expect(r.sharedLease).toBe(true);
  });

  it('generates ids that are valid key segments and distinct', () => {
    const ids = new Set(Array.from({ length: 50 }, defaultInstanceId));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9._:@-]{1,200}$/);
      expect(id).toContain(String(process.pid));
    }
  });

  it('uses a custom codec', () => {
    const codec: RecordCodec = {
      encode: i => i.addr,
      decode: (_k, v, service, id) => ({ service, id, addr: v, metadata: null }),
    };
    const c = mockClient();
    const r = resolveRegisterOptions(c, { ...base, codec });
    c.close();
    expect(r.value).toBe('10.0.0.5:8080');
  });
});

describe('Go naming codec round-trips', () => {
  const json = fc.jsonValue().filter(v => JSON.stringify(v) !== undefined);
  const addr = fc
    .tuple(
      fc.oneof(
        fc.ipV4(),
        fc.domain(),
        fc.ipV6().map(h => `[${h}]`),
      ),
      fc.integer({ min: 1, max: 65535 }),
    )
    .map(([h, p]) => `${h}:${p}`);
  const segment = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/);
  const service = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}(\/[A-Za-z0-9._-]{1,20}){0,2}$/);

  it('decode(encode(x)) == x for every valid instance, and the key parses back to the id', () => {
    fc.assert(
      fc.property(
        service,
        segment,
        addr,
        json,
        fc.constantFrom('', 'svc/', 'a/b/'),
        (svc, id, a, metadata, prefix) => {
          fc.pre(!/^\.+$/.test(id));
          const instance = {
            service: svc,
            id,
            addr: a,
            metadata: JSON.parse(JSON.stringify(metadata)),
          };
          const value = goNamingCodec.encode(instance);
          const parsed = JSON.parse(value);
          expect(Object.keys(parsed)).toEqual(['Op', 'Addr', 'Metadata']);
          expect(parsed.Op).toBe(0);
          const key = instanceKey(prefix, svc, id);
          expect(goNamingCodec.decode(key, value, svc, id)).toEqual(instance);
          expect(idFromKey(prefix, svc, key)).toBe(id);
        },
      ),
      { numRuns: 300 },
    );
  });
});
