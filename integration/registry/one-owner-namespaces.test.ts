/**
 * Issue 10 adversary, finding 7 attacked through namespaces: the same etcd key
 * spelled as `prefix: 'a/'` on the client and as no prefix on `client.namespace('a/')`
 * is one key. Two live registrations of it were both accepted and overwrote each
 * other's record; the second must be refused, as for the same spelling twice.
 * Registrations of different keys in two namespaces stay independent.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import { register } from '../../lib/registry/register';
import { withEtcdClient } from '../shared';

describe('one key, one owner, whatever the spelling', () => {
  const fx = withEtcdClient();

  it('prefix "a/" on the client and namespace("a/") name the same key: the second is refused', async () => {
    const first = register(fx.client, {
      service: 'svc',
      addr: '127.0.0.1:1',
      id: 'one',
      prefix: 'a/',
      ttlSeconds: 5,
    });
    try {
      await first.ready();
      for (const spell of [
        () =>
          register(fx.client.namespace('a/'), { service: 'svc', addr: '127.0.0.1:2', id: 'one' }),
        () =>
          register(fx.client.namespace('a'), {
            service: 'svc',
            addr: '127.0.0.1:2',
            id: 'one',
            prefix: '/',
          }),
        () =>
          register(fx.client.namespace('').namespace('a/'), {
            service: 'svc',
            addr: '127.0.0.1:2',
            id: 'one',
          }),
      ]) {
        let second: { close(): Promise<void> } | undefined;
        try {
          second = spell();
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidOptionError);
        }
        const accepted = second !== undefined;
        await second?.close();
        expect(accepted, 'a second live registration of the same key was accepted').toBe(false);
      }
      expect(await fx.client.get('a/svc/one').string()).toContain('127.0.0.1:1');
    } finally {
      await first.close();
    }
  });

  it('the same service and id in two different namespaces are two keys, both live', async () => {
    const a = register(fx.client.namespace('ns1/'), { service: 's', addr: '127.0.0.1:1', id: 'i' });
    const b = register(fx.client.namespace('ns2/'), { service: 's', addr: '127.0.0.1:2', id: 'i' });
    try {
      await Promise.all([a.ready(), b.ready()]);
      expect(await fx.client.get('ns1/s/i').string()).toContain('127.0.0.1:1');
      expect(await fx.client.get('ns2/s/i').string()).toContain('127.0.0.1:2');
      await a.close();
      expect(await fx.client.get('ns1/s/i').string()).toBeNull();
      expect(await fx.client.get('ns2/s/i').string()).toContain('127.0.0.1:2');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
