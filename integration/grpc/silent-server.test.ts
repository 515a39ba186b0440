/**
 * A "server" that accepts TCP connections and never answers (never speaks
 * HTTP/2): grpc-js would keep such a channel CONNECTING forever (grpc-node#2785).
 * Calls must fail within their deadline, the channel must be rebuilt, and once a
 * real instance appears beside it, calls succeed.
 */
import * as net from 'node:net';
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib/client';
import { createGrpcClient } from '../../lib/grpc/create-client';
import type { GrpcRebuildEvent } from '../../lib/grpc/channel-keeper';
import { registerEtcdResolver } from '../../lib/grpc/resolver';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { EchoClient, echo, startEchoServer, type EchoServer } from '../../test/grpc/echo-service';
import { goRecord, waitFor } from '../discovery/helpers';

const DEADLINE_MS = 1000;

describe('a peer that accepts TCP and never answers', () => {
  let cluster: EtcdCluster;
  let etcd: Etcd3;
  let unregister: () => void;
  let silent: net.Server;
  let silentAddr: string;
  const sockets = new Set<net.Socket>();
  let real: EchoServer | undefined;

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    etcd = createClient({ hosts: cluster.endpoints });
    unregister = registerEtcdResolver(etcd);
    silent = net.createServer(s => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>(r => silent.listen(0, '127.0.0.1', r));
    silentAddr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });
  afterAll(async () => {
    real?.kill();
    unregister?.();
    for (const s of sockets) s.destroy();
    await new Promise(r => silent.close(r));
    await etcd?.close();
    await cluster?.stop();
  });

  it('calls fail within their deadline, the channel is rebuilt, none hangs; a real instance then serves', async () => {
    await etcd.put('quiet/silent').value(goRecord(silentAddr));
    const client = createGrpcClient(EchoClient, 'etcd:///quiet', {
      callTimeoutMs: DEADLINE_MS,
      connectTimeoutMs: 500,
      rebuild: { initialBackoffMs: 100, maxBackoffMs: 1000 },
      breaker: { consecutiveFailures: 5, halfOpenAfterMs: 1000 },
    });
    const rebuilds: GrpcRebuildEvent[] = [];
    client.resilience.onRebuild(e => rebuilds.push(e));
    try {
      // Ten concurrent calls, then ten more one after another: every one must settle in time.
      const timed = async () => {
        const t0 = Date.now();
        try {
          await echo(client as any, { message: 'x' });
          return { ms: Date.now() - t0, code: Status.OK };
        } catch (e) {
          return {
            ms: Date.now() - t0,
            code: (e as ServiceError).code,
            details: (e as ServiceError).details,
          };
        }
      };
      const concurrent = await Promise.all(Array.from({ length: 10 }, timed));
      const sequential = [];
      for (let i = 0; i < 10; i++) sequential.push(await timed());
      const all = [...concurrent, ...sequential];
      const worst = Math.max(...all.map(r => r.ms));
      console.log(
        `[grpc silent peer] 20 calls with a ${DEADLINE_MS} ms deadline: codes ${[...new Set(all.map(r => Status[r.code]))].join(',')}, ` +
          `slowest ${worst} ms; ${rebuilds.length} channel rebuilds (${[...new Set(rebuilds.map(r => r.reason))].join(',')}); ` +
          `${sockets.size} TCP connections held by the silent peer; ${[...new Set(all.map(r => (r as any).details))].join(' | ')}`,
      );
      // DEADLINE_EXCEEDED while the breaker is closed; once it opens (5 failures), an
      // immediate UNAVAILABLE naming the open breaker.
      const failedFast = (r: { code: number; details?: string }) =>
        r.code === Status.UNAVAILABLE && /circuit breaker .* is open/.test(r.details ?? '');
      expect(all.every(r => r.code === Status.DEADLINE_EXCEEDED || failedFast(r))).toBe(true);
      expect(all.filter(r => r.code === Status.DEADLINE_EXCEEDED).length).toBeGreaterThanOrEqual(5);
      expect(worst).toBeLessThan(DEADLINE_MS + 500);
      expect(rebuilds.length).toBeGreaterThanOrEqual(1);
      expect(rebuilds[0]!.reason).toBe('connect-timeout');
      // Old channels are closed on rebuild: their connections to the silent peer do not pile up.
      expect(sockets.size).toBeLessThanOrEqual(3);

      // A real instance appears beside the silent one: calls succeed again.
      real = await startEchoServer('real');
      await etcd.put('quiet/real').value(goRecord(real.addr));
      const ms = await waitFor(
        async () => (await timed()).code === Status.OK,
        10_000,
        'a successful call',
        10,
      );
      console.log(`[grpc silent peer] first success ${ms} ms after a real instance registered`);
      const after = await Promise.all(Array.from({ length: 10 }, timed));
      expect(after.every(r => r.code === Status.OK)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('also when the silent peer is the direct target (no etcd)', async () => {
    const client = createGrpcClient(EchoClient, silentAddr, {
      callTimeoutMs: DEADLINE_MS,
      connectTimeoutMs: 500,
    });
    const rebuilds: GrpcRebuildEvent[] = [];
    client.resilience.onRebuild(e => rebuilds.push(e));
    try {
      const t0 = Date.now();
      const err = await echo(client as any, { message: 'x' }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).toBe(Status.DEADLINE_EXCEEDED);
      expect(Date.now() - t0).toBeLessThan(DEADLINE_MS + 500);
      expect(rebuilds.length).toBeGreaterThanOrEqual(1);
    } finally {
      await client.close();
    }
  });
});
