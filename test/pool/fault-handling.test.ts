/**
 * The user's `faultHandling` policies take effect (etcd3's `IOptions.faultHandling`):
 * `global` wraps each whole call (around our rounds), `host(host)` each attempt on an
 * endpoint, one policy per host kept for the client's life. Our `Etcd3` against real
 * grpc-js servers serving etcd's proto.
 */
import {
  BulkheadRejectedError,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleAll,
  timeout,
  type IPolicy,
} from 'cockatiel';
import { describe, expect, test } from 'vitest';
import { HANG } from '../fakes/fake-etcd';
import { ready, withClients } from '../fakes/client-harness';
import { timed, waitUntil } from '../fakes/pool-harness';

const { fakes, client } = withClients({ attemptTimeoutMs: 1000 });

describe('faultHandling.global', () => {
  test('a bulkhead around each whole call limits concurrent calls', async () => {
    const [a] = await fakes(1);
    let release!: () => void;
    const gate = new Promise<void>(r => (release = r));
    a.on('KV.range', async () => (await gate, { ok: { kvs: [], count: '0' } }));
    const c = client({ hosts: a.url, faultHandling: { global: bulkhead(1, 0) } });
    await ready(c);
    const first = c.get('k').string();
    await waitUntil(() => a.pending + a.count('KV.range') > 0, 'the first read arrived');
    const second = await timed(() => c.get('k').string());
    expect(second.error).toBeInstanceOf(BulkheadRejectedError);
    release();
    expect(await first).toBeNull();
    expect(a.count('KV.range')).toBe(1);
  });

  test('a timeout around each whole call ends it', async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => HANG);
    const c = client({
      hosts: a.url,
      faultHandling: { global: timeout(150, TimeoutStrategy.Aggressive) },
    });
    await ready(c);
    const { error } = await timed(() => c.get('k').string());
    expect(error).toBeInstanceOf(TaskCancelledError);
  });
});

describe('faultHandling.host', () => {
  test('one policy per host, kept across calls; an open user breaker sends calls elsewhere', async () => {
    const [a, b] = await fakes(2);
    const made: string[] = [];
    const policies = new Map<string, ReturnType<typeof circuitBreaker>>();
    const host = (h: string): IPolicy => {
      made.push(h);
      const p = circuitBreaker(handleAll, {
        halfOpenAfter: 60_000,
        breaker: new ConsecutiveBreaker(5),
      });
      policies.set(h, p);
      return p;
    };
    const c = client({ hosts: [a.url, b.url], faultHandling: { host } });
    await ready(c);
    for (let i = 0; i < 4; i++) {
      await c.put(`k${i}`).value('v');
    }
    expect(a.count('KV.put') + b.count('KV.put')).toBe(4);
    // Created on first use, once per host.
    expect(new Set(made).size).toBe(made.length);
    const [used, other] = a.count('KV.put') > 0 ? [a, b] : [b, a];
    policies.get(used.url)!.isolate(); // the user's breaker for that host is held open
    const before = used.count('KV.put');
    for (let i = 0; i < 4; i++) {
      await c.put(`j${i}`).value('v');
    }
    expect(used.count('KV.put')).toBe(before);
    expect(other.count('KV.put')).toBeGreaterThanOrEqual(4);
    expect(made.sort()).toEqual([a.url, b.url].sort());
  });
});
