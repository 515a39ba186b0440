/**
 * Bad lease TTLs are refused before anything is sent. Where etcd3 refuses one too
 * (`!ttl || ttl < 1`), the error says what etcd3's says ("must be at least 1 second",
 * the text etcd3's own suite matches) and is a `RangeError` as etcd3's; where etcd3
 * would send it (a string, a non-finite number, above etcd's maximum), ours names the
 * rule.
 */
import { Etcd3 as RawEtcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../lib/client';
import { InvalidOptionError, InvalidTtlError } from '../../lib/errors';

const etcd3Message = (ttl: unknown): string => {
  const raw = new RawEtcd3({ hosts: '127.0.0.1:1' });
  try {
    raw.lease(ttl as number);
    return '';
  } catch (err) {
    return (err as Error).message;
  } finally {
    raw.close();
  }
};

describe('lease TTL arguments', () => {
  const client = createClient({ hosts: '127.0.0.1:1' });

  it.each([[0], [undefined], [null], [-1], [0.5], [NaN]])(
    'etcd3 refuses %s: ours throws a RangeError with etcd3s words too',
    ttl => {
      const expected = etcd3Message(ttl);
      expect(expected).toMatch(/must be at least 1 second/);
      let err: unknown;
      try {
        client.lease(ttl as number);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RangeError);
      expect(err).toBeInstanceOf(InvalidTtlError);
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as Error).message).toContain(expected);
    },
  );

  it.each([
    ['10'],
    [Infinity],
    [9_000_000_001],
    [Symbol('x')],
    [{ valueOf: (): number => 5 }],
    [5n],
  ])('etcd3 would send %s: ours refuses it', ttl => {
    expect(() => client.lease(ttl as number)).toThrow(InvalidTtlError);
  });
});
