/**
 * Issue 12, "refused is definite": a connection refused (nothing listens on the port)
 * is known at once. With every endpoint refusing, a call fails within ~100 ms with an
 * error that is an etcd3 `GRPCUnavailableError` (what raw etcd3 users branch on);
 * with one refused endpoint of three, calls take no longer than with three live ones.
 */
import { Etcd3 as RawEtcd3, GRPCUnavailableError } from 'etcd3';
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
    // grpc-js's first connection in a process loads its transport code (~100 ms on this
    // machine, for raw etcd3 too): warm it up as any running service has, then measure.
    const warm = track(createClient({ hosts: cluster.endpoints }));
    await warm.get('warm').string();
    const raw = new RawEtcd3({ hosts: dead });
    const rawFirst = await timedCall(() => raw.get('k').string());
    raw.close();
    const client = track(createClient({ hosts: dead }));
    const first = await timedCall(() => client.get('k').string());
    const put = await timedCall(() => client.put('k').value('v').exec());
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await timedCall(() => client.get('k').string()));
    const all = [first, put, ...later];
    measure('all refused', {
      firstMs: Math.round(first.ms),
      rawEtcd3FirstMs: Math.round(rawFirst.ms),
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
      for (let i = 0; i < 60; i++) rest.push(await timedCall(() => client.get('k').string()));
      for (let i = 0; i < 20; i++)
        rest.push(await timedCall(() => client.put('k').value('v').exec()));
      return { first, rest };
    };
    const live = await measureClient(cluster.endpoints);
    // The refused endpoint first in the list: it is tried first on some calls.
    const oneDead = await measureClient([dead[0]!, ...cluster.endpoints]);
    const pct = (rs: Array<{ ms: number }>, q: number) => {
      const sorted = rs.map(r => r.ms).sort((x, y) => x - y);
      return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    };
    measure('one refused of three', {
      firstLiveMs: Math.round(live.first.ms),
      firstOneRefusedMs: Math.round(oneDead.first.ms),
      p50LiveMs: pct(live.rest, 0.5),
      p50OneRefusedMs: pct(oneDead.rest, 0.5),
      p90LiveMs: pct(live.rest, 0.9),
      p90OneRefusedMs: pct(oneDead.rest, 0.9),
      worstLiveMs: pct(live.rest, 1),
      worstOneRefusedMs: pct(oneDead.rest, 1),
    });
    expect([oneDead.first, ...oneDead.rest].every(r => r.ok)).toBe(true);
    // The first call connects to the live members either way; the refused one adds nothing.
    expect(oneDead.first.ms).toBeLessThanOrEqual(live.first.ms + 50);
    // Later calls: the same distribution (a single slow call on a shared machine is noise,
    // so the median and the 90th percentile are compared, with a few ms to spare).
    expect(pct(oneDead.rest, 0.5)).toBeLessThanOrEqual(pct(live.rest, 0.5) + 5);
    expect(pct(oneDead.rest, 0.9)).toBeLessThanOrEqual(pct(live.rest, 0.9) + 10);
  });
});
