/**
 * Issue 10 adversary, finding 7 attacked through namespaces: the same etcd key
 * spelled as `prefix: 'a/'` on the client and as no prefix on `client.namespace('a/')`
 * is one key. Two live registrations of it were both accepted and overwrote each
 * other's record; the second must be refused, as for the same spelling twice.
 * Registrations of different keys in two namespaces stay independent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { InvalidOptionError } from '../../lib/errors';
import { register } from '../../lib/registry/register';
import { startEtcd, type EtcdCluster } from '../../lib/testing';

describe('one key, one owner, whatever the spelling', () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    client = createClient({ hosts: cluster.endpoints });
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('prefix "a/" on the client and namespace("a/") name the same key: the second is refused', async () => {
    const first = register(client, {
      service: 'svc',
      addr: '127.0.0.1:1',
      id: 'one',
      prefix: 'a/',
      ttlSeconds: 5,
    });
    try {
      await first.ready();
      for (const spell of [
        () => register(client.namespace('a/'), { service: 'svc', addr: '127.0.0.1:2', id: 'one' }),
        () =>
          register(client.namespace('a'), {
            service: 'svc',
            addr: '127.0.0.1:2',
            id: 'one',
            prefix: '/',
          }),
        () =>
          register(client.namespace('').namespace('a/'), {
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
      expect(await client.get('a/svc/one').string()).toContain('127.0.0.1:1');
    } finally {
      await first.close();
    }
  });

  it('the same service and id in two different namespaces are two keys, both live', async () => {
    const a = register(client.namespace('ns1/'), { service: 's', addr: '127.0.0.1:1', id: 'i' });
    const b = register(client.namespace('ns2/'), { service: 's', addr: '127.0.0.1:2', id: 'i' });
    try {
      await Promise.all([a.ready(), b.ready()]);
      expect(await client.get('ns1/s/i').string()).toContain('127.0.0.1:1');
      expect(await client.get('ns2/s/i').string()).toContain('127.0.0.1:2');
      await a.close();
      expect(await client.get('ns1/s/i').string()).toBeNull();
      expect(await client.get('ns2/s/i').string()).toContain('127.0.0.1:2');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
