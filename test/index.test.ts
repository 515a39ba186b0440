/**
 * The public entry point: a drop-in for etcd3 (every export, same names), plus ours.
 */
import * as etcd3 from 'etcd3';
import { describe, expect, it } from 'vitest';
import * as lib from '../lib';

describe('lib/index', () => {
  it('exports everything etcd3 exports, under the same names', () => {
    const missing = Object.keys(etcd3).filter(k => !(k in lib));
    expect(missing).toEqual([]);
  });

  it('re-exports etcd3 values unchanged, except Etcd3 which is our subclass', () => {
    for (const key of Object.keys(etcd3)) {
      if (key === 'Etcd3') {
        continue;
      }
      expect((lib as Record<string, unknown>)[key], key).toBe(
        (etcd3 as Record<string, unknown>)[key],
      );
    }
    expect(lib.Etcd3).not.toBe(etcd3.Etcd3);
    expect(Object.getPrototypeOf(lib.Etcd3)).toBe(etcd3.Etcd3);
  });

  it('createClient returns an instance of both our Etcd3 and the etcd3 Etcd3; close() makes calls fail typed', async () => {
    const client = lib.createClient({ hosts: '127.0.0.1:1' });
    expect(client).toBeInstanceOf(lib.Etcd3);
    expect(client).toBeInstanceOf(etcd3.Etcd3);
    expect(client.health().endpoints.map(e => e.endpoint)).toEqual(['127.0.0.1:1']);
    await client.close();
    expect(client.health().closed).toBe(true);
    await expect(client.get('k').string()).rejects.toBeInstanceOf(etcd3.ClientClosedError);
  });

  it('exports the library API by name', () => {
    for (const name of [
      'createClient',
      'retryWrites',
      'InvalidOptionError',
      'NoEndpointAvailableError',
      'DeadlineExceededError',
      'ResilientEtcdError',
      'register',
      'discover',
      'installShutdownHandlers',
      'registerEtcdResolver',
      'createGrpcClient',
    ]) {
      expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('etcd3 mock() still works through our pool', async () => {
    const client = new lib.Etcd3({ hosts: '127.0.0.1:1' });
    const calls: string[] = [];
    client.mock({
      exec: async (service: string, method: string) => {
        calls.push(`${service}.${method}`);
        return { kvs: [{ key: Buffer.from('k'), value: Buffer.from('mocked') }] };
      },
    } as any);
    expect(await client.get('k').string()).toBe('mocked');
    expect(calls).toEqual(['KV.range']);
    client.unmock();
    await client.close();
  });
});
