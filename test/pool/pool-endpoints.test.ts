/**
 * The pool owns its endpoints: it creates them through its factory, fans their events
 * in (state, rebuild, breaker, with the endpoint's URL), and `sync()` adds and drops
 * endpoints from the member list. Real grpc-js servers serving etcd's proto.
 */
import { status as Status } from '@grpc/grpc-js';
import { describe, expect, test } from 'vitest';
import type { BreakerEvent, StateChangeEvent } from '../../lib/pool/resilient-pool';
import { allReady, makePool, timed, waitUntil, withCleanup } from '../fakes/pool-harness';

const { cleanup, fakes } = withCleanup();

describe('the pool fans in its endpoints events', () => {
  test('state and breaker changes of every endpoint, with its URL', async () => {
    const [a, b] = await fakes(2);
    const p = makePool([a.url, b.url], {
      retry: { maxAttempts: 0 },
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    cleanup.push(() => p.close());
    const states: StateChangeEvent[] = [];
    const breakers: BreakerEvent[] = [];
    p.onStateChange(e => states.push(e));
    p.onBreakerStateChange(e => breakers.push(e));
    await allReady(p);
    expect(
      states
        .filter(e => e.to === 'READY')
        .map(e => e.endpoint)
        .sort(),
    ).toEqual([a.url, b.url].sort());
    a.on('KV.range', () => ({ code: Status.RESOURCE_EXHAUSTED, details: 'busy' }));
    b.on('KV.range', () => ({ code: Status.RESOURCE_EXHAUSTED, details: 'busy' }));
    await timed(() => p.exec('KV', 'range', { key: Buffer.from('k') }));
    expect(breakers.map(e => `${e.endpoint} ${e.state}`).sort()).toEqual(
      [`${a.url} open`, `${b.url} open`].sort(),
    );
  });

  test('sync() adds a listed member that answers, and fans in its events too', async () => {
    const [a, b] = await fakes(2);
    a.on('Cluster.memberList', () => ({
      ok: { members: [{ clientURLs: [a.url] }, { clientURLs: [b.url] }] },
    }));
    const p = makePool([a.url]);
    cleanup.push(() => p.close());
    const states: StateChangeEvent[] = [];
    p.onStateChange(e => states.push(e));
    const result = await p.sync();
    expect(result).toEqual({ added: [b.url], removed: [] });
    expect(p.endpoints.map(e => e.url)).toEqual([a.url, b.url]);
    await waitUntil(() => states.some(e => e.endpoint === b.url && e.to === 'READY'), 'b READY');
  });
});
