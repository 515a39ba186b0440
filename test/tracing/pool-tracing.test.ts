/**
 * Spans of the etcd client's pool, against fake etcd servers: one span per logical call
 * (all its attempts), attempts / retries / breaker rejections as events, ERROR status.
 */
import { describe, expect, test } from 'vitest';
import type { ResilientEtcdOptions } from '../../lib/options';
import { FakeEtcd, HANG, unavailable } from '../fakes/fake-etcd';
import { allReady, makePool, putReq, rangeReq, timed, withCleanup } from '../fakes/pool-harness';
import { memoryTracing } from './in-memory-tracer';

const { cleanup, fakes } = withCleanup();

function pool(hosts: string[], options: ResilientEtcdOptions) {
  const p = makePool(hosts, {
    callTimeoutMs: 3000,
    attemptTimeoutMs: 300,
    connectTimeoutMs: 300,
    retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  cleanup.push(() => p.close());
  return p;
}

const port = (url: string) => Number(new URL(url).port);

describe('pool tracing', () => {
  test('a call is one CLIENT span named etcdserverpb.<Service>/<Method> with the RPC attributes', async () => {
    const t = memoryTracing();
    const [a] = await fakes(1);
    a.on('Lease.leaseGrant', () => ({ ok: { header: {}, ID: '1', TTL: '5' } }));
    const p = pool([a.url], { tracerProvider: t.provider });
    await allReady(p);
    await p.exec('KV', 'range', rangeReq());
    await p.exec('Lease', 'leaseGrant', { TTL: 5 });
    const spans = t.spans();
    expect(spans.map(s => s.name)).toEqual([
      'etcdserverpb.KV/Range',
      'etcdserverpb.Lease/LeaseGrant',
    ]);
    expect(spans[0].kind).toBe(2);
    expect(spans[0].attributes).toEqual({
      'rpc.system': 'grpc',
      'rpc.service': 'etcdserverpb.KV',
      'rpc.method': 'Range',
      'rpc.grpc.status_code': 0,
      'server.address': '127.0.0.1',
      'server.port': a.port,
    });
    expect(spans[0].status.code).toBe(0);
    expect(t.events(spans[0])).toEqual(['attempt']);
  });

  test('a hedged read records the hedge and both attempts; the span names the endpoint that answered', async () => {
    const t = memoryTracing();
    const [a, b] = await fakes(2);
    const p = pool([a.url, b.url], { tracerProvider: t.provider });
    await allReady(p);
    // Whichever is tried first hangs; the read is hedged to the other, which answers.
    let hung: FakeEtcd | undefined;
    const firstHangs = (fake: FakeEtcd) => () => {
      if (hung) {
        return { ok: { header: {}, kvs: [], count: '0' } };
      }
      hung = fake;
      return HANG;
    };
    a.on('KV.range', firstHangs(a));
    b.on('KV.range', firstHangs(b));
    await p.exec('KV', 'range', rangeReq());
    const answered = hung === a ? b : a;
    const [span] = t.spans();
    expect(t.events(span)).toEqual(['attempt', 'hedge', 'attempt']);
    expect(span.events.map(e => e.attributes?.['server.port'])).toEqual([
      hung!.port,
      answered.port,
      answered.port,
    ]);
    expect(span.attributes['server.port']).toBe(answered.port);
    expect(span.status.code).toBe(0);
  });

  test('retry rounds are events; a failed call has status ERROR and its final code', async () => {
    const t = memoryTracing();
    const [a] = await fakes(1);
    a.on('KV.range', () => unavailable());
    const p = pool([a.url], {
      tracerProvider: t.provider,
      breaker: { consecutiveFailures: 100, halfOpenAfterMs: 10_000 },
    });
    await allReady(p);
    const { error } = await timed(() => p.exec('KV', 'range', rangeReq()));
    expect(error).toBeTruthy();
    const [span] = t.spans();
    expect(t.events(span)).toEqual([
      'attempt',
      'attempt.failed',
      'retry',
      'attempt',
      'attempt.failed',
      'retry',
      'attempt',
      'attempt.failed',
      'retry',
      'attempt',
      'attempt.failed',
    ]);
    expect(span.status.code).toBe(2);
    expect(span.attributes).toMatchObject({
      'rpc.grpc.status_code': 14,
      'server.port': port(a.url),
    });
  });

  test('an open breaker is recorded as breaker.rejected', async () => {
    const t = memoryTracing();
    const [a] = await fakes(1);
    a.on('KV.range', () => unavailable('Connection dropped')); // counts against the breaker
    const p = pool([a.url], {
      tracerProvider: t.provider,
      retry: { maxAttempts: 0, initialDelayMs: 1, maxDelayMs: 1 },
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    await allReady(p);
    await timed(() => p.exec('KV', 'range', rangeReq()));
    await timed(() => p.exec('KV', 'put', putReq()));
    const spans = t.spans();
    expect(spans).toHaveLength(2);
    expect(t.events(spans[1])).toContain('breaker.rejected');
    expect(spans[1].status.code).toBe(2);
  });
});
