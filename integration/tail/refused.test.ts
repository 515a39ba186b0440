/**
 * Issue 12, "refused is definite": a connection refused (nothing listens on the port)
 * is known at once. With every endpoint refusing, a call fails within ~100 ms with an
 * error that is an etcd3 `GRPCUnavailableError` (what raw etcd3 users branch on);
 * with one refused endpoint of three, calls take no longer than with three live ones.
 */
import { GRPCUnavailableError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Etcd3 } from '../../lib';
import { freePorts, startEtcd, type EtcdCluster } from '../../lib/testing';
import { measure } from './helpers';

async function timedCall(fn: () => Promise<unknown>) {
  const start = performance.now();
  try {
    await fn();
    return { ok: true as const, ms: performance.now() - start };
  } catch (error) {
    return { ok: false as const, ms: performance.now() - start, error };
  }
}

describe('refused endpoints', () => {
  let cluster: EtcdCluster;
  let dead: string[];
  const clients: Etcd3[] = [];
  const track = (c: Etcd3) => (clients.push(c), c);

  beforeAll(async () => {
    cluster = await startEtcd({ members: 2 });
    dead = (await freePorts(3)).map(p => `http://127.0.0.1:${p}`);
  });
  afterAll(async () => {
    await Promise.all(clients.map(c => c.close()));
    await cluster?.stop();
  });

  it('every endpoint refused: a typed GRPCUnavailableError within 100 ms', async () => {
    const client = track(createClient({ hosts: dead }));
    const first = await timedCall(() => client.get('k').string());
    const put = await timedCall(() => client.put('k').value('v').exec());
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await timedCall(() => client.get('k').string()));
    const all = [first, put, ...later];
    measure('all refused', {
      firstMs: Math.round(first.ms),
      putMs: Math.round(put.ms),
      worstMs: Math.round(Math.max(...all.map(r => r.ms))),
      error: first.ok
        ? undefined
        : `${(first.error as Error).name}: ${(first.error as Error).message}`.slice(0, 160),
    });
    for (const r of all) {
      expect(r.ok).toBe(false);
      expect(r.error).toBeInstanceOf(GRPCUnavailableError);
      expect(r.ms).toBeLessThanOrEqual(100);
    }
  });

  it('one refused of three adds no latency', async () => {
    const measureClient = async (hosts: string[]) => {
      const client = track(createClient({ hosts }));
      const first = await timedCall(() => client.get('k').string());
      const rest = [];
      for (let i = 0; i < 30; i++) rest.push(await timedCall(() => client.get('k').string()));
      for (let i = 0; i < 10; i++)
        rest.push(await timedCall(() => client.put('k').value('v').exec()));
      return { first, rest };
    };
    const live = await measureClient(cluster.endpoints);
    // The refused endpoint first in the list: it is tried first on some calls.
    const oneDead = await measureClient([dead[0]!, ...cluster.endpoints]);
    const worst = (rs: Array<{ ms: number }>) => Math.round(Math.max(...rs.map(r => r.ms)));
    measure('one refused of three', {
      firstLiveMs: Math.round(live.first.ms),
      firstOneRefusedMs: Math.round(oneDead.first.ms),
      worstLiveMs: worst(live.rest),
      worstOneRefusedMs: worst(oneDead.rest),
    });
    expect([oneDead.first, ...oneDead.rest].every(r => r.ok)).toBe(true);
    expect(oneDead.first.ms).toBeLessThanOrEqual(live.first.ms + 50);
    expect(worst(oneDead.rest)).toBeLessThanOrEqual(worst(live.rest) + 50);
  });
});
