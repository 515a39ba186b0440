/**
 * Properties of the registry record codec and validators: valid instances
 * round-trip exactly; any string read from etcd decodes to a valid instance or
 * throws InvalidRecordError; any value given to a validator passes (and then
 * satisfies the key-layout invariants) or throws InvalidOptionError.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvalidOptionError, InvalidRecordError } from '../../lib/errors';
import {
  assertAddress,
  assertInstanceId,
  assertPrefix,
  assertServiceName,
  goJson,
  goNamingCodec,
  idFromKey,
  instanceKey,
  isValidAddress,
  servicePrefix,
} from '../../lib/service-record';
import {
  address,
  hostile,
  instanceId,
  prefix,
  printerKillers,
  segment,
  serviceName,
} from './arbitraries';

/** Classifies a call: 'ok', or the error class name if it is one of `allowed`; rethrows others. */
function outcome(fn: () => unknown, allowed: Function): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof allowed) return 'rejected';
    throw err;
  }
}

describe('goNamingCodec', () => {
  test('encode then decode returns the same instance (metadata as JSON sees it)', () => {
    fc.assert(
      fc.property(
        serviceName,
        instanceId,
        address,
        fc.option(fc.jsonValue(), { nil: undefined }),
        (service, id, addr, metadata) => {
          const value = goNamingCodec.encode({ service, id, addr, metadata });
          const back = goNamingCodec.decode(instanceKey('', service, id), value, service, id);
          expect(back).toEqual({
            service,
            id,
            addr,
            // As Go sees it: like JSON, except that -0 stays -0 (Go writes `-0`).
            metadata: metadata === undefined ? null : JSON.parse(goJson(metadata)),
          });
          // The wire format is Go's naming/endpoints Update.
          expect(Object.keys(JSON.parse(value))).toEqual(['Op', 'Addr', 'Metadata']);
        },
      ),
      { numRuns: 300 },
    );
  });

  const anyValue = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.json({ maxDepth: 3 }),
    {
      weight: 4,
      arbitrary: fc
        .record(
          {
            Op: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.jsonValue({ maxDepth: 2 })),
            Addr: fc.oneof(
              { weight: 4, arbitrary: address },
              fc.jsonValue({ maxDepth: 2 }),
              fc.string(),
            ),
            Metadata: fc.jsonValue({ maxDepth: 3 }),
          },
          { requiredKeys: [] },
        )
        .map(o => JSON.stringify(o)),
    },
    fc.constantFrom(
      '',
      '{}',
      'null',
      '[]',
      '{"Op":0}',
      '{"Addr":"a:0"}',
      '{"Addr":"a:65536"}',
      '{"Op":1,"Addr":"a:1"}',
      '{"__proto__":{"Addr":"x:1"}}',
      `{"Addr":"${'a'.repeat(400)}:1"}`,
    ),
  );

  test('any stored value decodes to a valid instance or throws InvalidRecordError naming the key', () => {
    const seen = { ok: 0, rejected: 0 };
    fc.assert(
      fc.property(anyValue, serviceName, instanceId, (value, service, id) => {
        const key = instanceKey('', service, id);
        let decoded: ReturnType<typeof goNamingCodec.decode> | undefined;
        const r = outcome(
          () => (decoded = goNamingCodec.decode(key, value, service, id)),
          InvalidRecordError,
        );
        seen[r]++;
        if (decoded) {
          expect(decoded.service).toBe(service);
          expect(decoded.id).toBe(id);
          expect(isValidAddress(decoded.addr)).toBe(true);
          expect(decoded.metadata).not.toBeUndefined();
        } else {
          try {
            goNamingCodec.decode(key, value, service, id);
          } catch (err) {
            expect((err as InvalidRecordError).key).toBe(key);
            expect((err as InvalidRecordError).code).toBe('ERESILIENT_INVALID_RECORD');
          }
        }
      }),
      { numRuns: 500 },
    );
    expect(seen.ok).toBeGreaterThan(20);
    expect(seen.rejected).toBeGreaterThan(20);
  });

  // decode() once echoed a record's `Op` in full, so a hostile record could put megabytes
  // into an error message and every log line that prints it.
  test('error messages stay short whatever the stored value', () => {
    const huge = JSON.stringify({ Op: 'x'.repeat(100_000), Addr: 'a:1' });
    expect(() => goNamingCodec.decode('k', huge, 's', 'i')).toThrow(InvalidRecordError);
    try {
      goNamingCodec.decode('k', huge, 's', 'i');
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(500);
    }
  });
});

describe('validators', () => {
  const anything = fc.oneof(
    hostile(),
    printerKillers(),
    fc.string(),
    fc.string({ unit: 'binary' }),
  );

  test('assertServiceName: passes only well-formed names, else InvalidOptionError', () => {
    fc.assert(
      fc.property(fc.oneof(anything, serviceName), value => {
        if (outcome(() => assertServiceName(value), InvalidOptionError) === 'ok') {
          const s = value as string;
          expect(s.length).toBeGreaterThan(0);
          expect(s.length).toBeLessThanOrEqual(200);
          expect(s.startsWith('/') || s.endsWith('/') || s.includes('//')).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('assertInstanceId: one key segment or InvalidOptionError', () => {
    fc.assert(
      fc.property(fc.oneof(anything, instanceId), value => {
        if (outcome(() => assertInstanceId(value), InvalidOptionError) === 'ok') {
          expect((value as string).includes('/')).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('assertPrefix: empty or ending in "/", else InvalidOptionError', () => {
    fc.assert(
      fc.property(fc.oneof(anything, prefix), value => {
        if (outcome(() => assertPrefix(value), InvalidOptionError) === 'ok') {
          expect(value === '' || (value as string).endsWith('/')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('assertAddress: host:port with port 1-65535, else InvalidOptionError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anything,
          address,
          fc.string().map(s => `${s}:0`),
        ),
        value => {
          if (outcome(() => assertAddress(value), InvalidOptionError) === 'ok') {
            const port = Number(/:(\d+)$/.exec(value as string)?.[1]);
            expect(port >= 1 && port <= 65535).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('key layout', () => {
  test('idFromKey inverts instanceKey', () => {
    fc.assert(
      fc.property(prefix, serviceName, instanceId, (p, s, id) => {
        expect(idFromKey(p, s, instanceKey(p, s, id))).toBe(id);
        expect(instanceKey(p, s, id).startsWith(servicePrefix(p, s))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('keys of nested services, sibling services and other prefixes are never taken as instances', () => {
    fc.assert(
      fc.property(prefix, serviceName, segment, instanceId, (p, s, child, id) => {
        // A nested service `s/child` lives under `s/`: its instances are not instances of `s`.
        expect(idFromKey(p, s, instanceKey(p, `${s}/${child}`, id))).toBeUndefined();
        // A sibling whose name extends `s` (orders vs orders2) is a different service.
        expect(idFromKey(p, s, instanceKey(p, `${s}${child}`, id))).toBeUndefined();
        expect(idFromKey(p, s, servicePrefix(p, s))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  test('idFromKey on arbitrary keys: undefined or a non-empty segment without "/"', () => {
    fc.assert(
      fc.property(
        prefix,
        serviceName,
        fc.string({ unit: 'binary', maxLength: 1200 }),
        (p, s, tail) => {
          const id = idFromKey(p, s, `${servicePrefix(p, s)}${tail}`);
          if (id !== undefined) {
            expect(id).toBe(tail);
            expect(id.length).toBeGreaterThan(0);
            expect(id.includes('/')).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
