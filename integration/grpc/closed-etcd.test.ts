/**
 * The `etcd:` resolver after its etcd client was closed (issue 10, finding 9): a
 * channel created then must get an error resolution at once, so calls fail promptly
 * with UNAVAILABLE instead of waiting for addresses that will never come.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { registerEtcdResolver } from '../../lib/grpc/resolver';
import { register, type Registration } from '../../lib/registry';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { EchoClient, echo, startEchoServer, type EchoServer } from '../../test/grpc/echo-service';

/** The call's outcome, or 'hung' if it has not settled after `ms` (a bound, not a timing claim). */
function settleWithin<T>(p: Promise<T>, ms: number): Promise<T | grpc.ServiceError | 'hung'> {
  let timer: NodeJS.Timeout;
  const hung = new Promise<'hung'>(r => (timer = setTimeout(() => r('hung'), ms)));
  return Promise.race([p.catch((e: grpc.ServiceError) => e), hung]).finally(() =>
    clearTimeout(timer),
  );
}

describe('etcd: resolver after its etcd client closed', () => {
  let cluster: EtcdCluster;
  let server: EchoServer;
  let owner: Etcd3;
  let reg: Registration;
  let etcd: Etcd3;
  let unregister: () => void;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    server = await startEchoServer('s');
    owner = createClient({ hosts: cluster.endpoints });
    reg = register(owner, { service: 'echo', addr: server.addr, id: 's', ttlSeconds: 5 });
    await reg.ready();
    etcd = createClient({ hosts: cluster.endpoints });
    unregister = registerEtcdResolver(etcd);
    // Works while the client is open.
    const plain = new EchoClient('etcd:///echo', grpc.credentials.createInsecure());
    expect(await echo(plain, { message: 'open' }, { deadline: Date.now() + 5000 })).toEqual({
      from: 's',
      message: 'open',
    });
    plain.close();
    await etcd.close();
  });
  afterAll(async () => {
    unregister?.();
    await reg?.close().catch(() => undefined);
    await owner?.close();
    server?.kill();
    await cluster?.stop();
  });

  it('a plain grpc-js call without deadline fails promptly with UNAVAILABLE', async () => {
    const plain = new EchoClient('etcd:///echo', grpc.credentials.createInsecure());
    try {
      const out = await settleWithin(echo(plain, { message: 'x' }), 5000);
      expect(out).not.toBe('hung');
      expect((out as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect((out as grpc.ServiceError).details).toMatch(/etcd client .*closed/);
    } finally {
      plain.close();
    }
  });

  it('a createGrpcClient call fails with UNAVAILABLE long before its deadline', async () => {
    const c = createGrpcClient(EchoClient, 'etcd:///echo', { callTimeoutMs: 20_000 });
    try {
      const t0 = Date.now();
      const out = await settleWithin(echo(c as any, { message: 'y' }), 10_000);
      expect(out).not.toBe('hung');
      expect((out as grpc.ServiceError).code).toBe(grpc.status.UNAVAILABLE);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await c.close();
    }
  });
});
