/**
 * Real gRPC servers register themselves in a real etcd; clients call
 * `etcd:///echo` through createGrpcClient. A server dies (process crash: its
 * record stays until its lease TTL), a new one registers, and etcd itself goes
 * away for a while: calls keep succeeding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { createClient, type Etcd3 } from '../../lib/client';
import { createGrpcClient, type ResilientGrpcClient } from '../../lib/grpc/create-client';
import { registerEtcdResolver } from '../../lib/grpc/resolver';
import { register, type Registration } from '../../lib/registry';
import { startEtcd, type EtcdCluster } from '../../lib/testing';
import { EchoClient, echo, startEchoServer, type EchoServer } from '../../test/grpc/echo-service';
import { sleep, waitFor } from '../discovery/helpers';

/** One "service process": a gRPC server registered through its own etcd client. */
interface Instance {
  server: EchoServer;
  etcd: Etcd3;
  reg: Registration;
}

interface Outcome {
  at: number;
  ok: boolean;
  from?: string;
  code?: number;
  details?: string;
}

/** Calls `Echo` back to back (one at a time) until stopped, recording each outcome. */
function callLoop(client: ResilientGrpcClient<any>) {
  const outcomes: Outcome[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop && i < 100_000; i++) {
      try {
        const r = await echo(client as any, { message: `m${i}` }, { deadline: Date.now() + 2000 });
        outcomes.push({ at: Date.now(), ok: true, from: r.from });
      } catch (e) {
        const err = e as ServiceError;
        outcomes.push({ at: Date.now(), ok: false, code: err.code, details: err.details });
      }
      await sleep(2);
    }
  })();
  return {
    outcomes,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}
const failuresIn = (o: Outcome[], from: number, to = Infinity) =>
  o.filter(x => !x.ok && x.at >= from && x.at <= to);

describe('gRPC calls through etcd:/// while servers and etcd come and go', () => {
  let cluster: EtcdCluster;
  let etcd: Etcd3;
  let unregister: () => void;
  const instances: Instance[] = [];

  async function startInstance(name: string): Promise<Instance> {
    const server = await startEchoServer(name);
    const ownEtcd = createClient({ hosts: cluster.endpoints });
    const reg = register(ownEtcd, { service: 'echo', addr: server.addr, id: name, ttlSeconds: 3 });
    const inst = { server, etcd: ownEtcd, reg };
    instances.push(inst);
    return inst;
  }
  /** A crash: the server stops answering and its keepalives stop, but its record stays until the TTL. */
  async function crash(inst: Instance) {
    inst.server.kill();
    await inst.etcd.close();
  }

  beforeAll(async () => {
    cluster = await startEtcd({ members: 1 });
    etcd = createClient({ hosts: cluster.endpoints });
    unregister = registerEtcdResolver(etcd);
  });
  afterAll(async () => {
    unregister?.();
    for (const i of instances) {
      i.server.kill();
      await i.reg.close().catch(() => undefined);
      await i.etcd.close();
    }
    await etcd?.close();
    await cluster?.stop();
  });

  it('a crashed server costs no idempotent call; a new server gets traffic within 1 s; an etcd outage costs nothing', async () => {
    const [a, b] = [await startInstance('a'), await startInstance('b')];
    await Promise.all([a.reg.ready(), b.reg.ready()]);
    const idempotent = createGrpcClient(EchoClient, 'etcd:///echo', {
      idempotentMethods: ['Echo'],
    });
    const plain = createGrpcClient(EchoClient, 'etcd:///echo');
    const loops = [callLoop(idempotent), callLoop(plain)];
    try {
      // Both servers take traffic.
      await waitFor(
        () => a.server.calls.Echo > 20 && b.server.calls.Echo > 20,
        10_000,
        'traffic on both servers',
      );

      // Crash "a": calls must keep succeeding; its record expires after the 3 s TTL.
      const crashAt = Date.now();
      await crash(a);
      await waitFor(
        async () => (await etcd.getAll().prefix('echo/').keys()).length === 1,
        10_000,
        'the crashed record to expire',
      );
      await sleep(300);
      const [idemFails, plainFails] = loops.map(l => failuresIn(l.outcomes, crashAt));
      const callsAfter = loops.map(l => l.outcomes.filter(o => o.at >= crashAt).length);
      console.log(
        `[grpc failover] server crash: idempotent client ${idemFails!.length} failed of ${callsAfter[0]} calls; ` +
          `non-idempotent client ${plainFails!.length} failed of ${callsAfter[1]} ` +
          `(${plainFails!.map(f => `${Status[f.code!]}: ${f.details}`).join('; ') || 'none'})`,
      );
      expect(idemFails).toEqual([]);
      // At most the call in flight on the dying connection (one at a time per loop) may fail.
      expect(plainFails!.length).toBeLessThanOrEqual(1);
      expect(callsAfter.every(n => n > 50)).toBe(true);

      // A new server registers: it receives traffic within 1 s of its record being written.
      const c = await startInstance('c');
      await c.reg.ready();
      const registeredAt = Date.now();
      const firstCallMs = await waitFor(
        () => c.server.calls.Echo > 0,
        5000,
        'traffic on the new server',
        2,
      );
      console.log(
        `[grpc failover] new server: first call ${firstCallMs} ms after its registration was written`,
      );
      expect(firstCallMs).toBeLessThan(1000);
      expect(Date.now() - registeredAt).toBeLessThan(1500);

      // etcd goes away for 2 s: the known instances keep serving.
      const outageAt = Date.now();
      await cluster.member(0).kill('SIGKILL');
      await sleep(2000);
      await cluster.member(0).restart();
      await sleep(500);
      const outageFails = loops.map(l => failuresIn(l.outcomes, outageAt));
      const outageCalls = loops.map(l => l.outcomes.filter(o => o.at >= outageAt).length);
      console.log(
        `[grpc failover] etcd down 2 s: ${outageFails.map(f => f.length).join(' / ')} failed of ${outageCalls.join(' / ')} calls`,
      );
      expect(outageFails.flat()).toEqual([]);
      expect(b.server.calls.Echo + c.server.calls.Echo).toBeGreaterThan(100);
    } finally {
      await Promise.all(loops.map(l => l.stop()));
      await Promise.all([idempotent.close(), plain.close()]);
    }
  });
});
