/**
 * The one listener rule on our `Etcd3`: a listener that throws never crashes the
 * process (no throw into grpc-js callbacks or timers), never changes a call's
 * outcome, never stops the other listeners. Real grpc-js servers serving etcd's
 * proto (test/fakes/fake-etcd.ts).
 */
import { status as Status } from '@grpc/grpc-js';
import { GRPCUnavailableError } from 'etcd3';
import { describe, expect, test } from 'vitest';
import { unavailable } from '../fakes/fake-etcd';
import { collectUncaught, withClients } from '../fakes/client-harness';
import { timed, waitUntil } from '../fakes/pool-harness';

const { fakes, client } = withClients();

const boom = () => {
  throw new Error('listener bug');
};

/** Lets grpc-js callbacks, immediates and short timers run. */
const settle = () => new Promise(r => setTimeout(r, 50));

const uncaught = collectUncaught();

describe('a throwing listener', () => {
  test('onCall: a successful put still resolves, and the other listeners still run', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    const seen: string[] = [];
    c.onCall(boom);
    c.onCall(e => seen.push(`${e.method} ${e.code}`));
    await expect(c.put('k').value('v').exec()).resolves.toBeDefined();
    expect(a.count('KV.put')).toBe(1);
    expect(seen).toEqual(['put OK']);
    // A failed call still fails with its own error.
    a.on('KV.put', () => unavailable('etcdserver: request timed out'));
    const { error } = await timed(() => c.put('k').value('v').exec());
    expect(error).toBeInstanceOf(GRPCUnavailableError);
    expect(uncaught).toEqual([]);
  });

  test('onStateChange: the process does not crash and state tracking goes on', async () => {
    const [a] = await fakes(1);
    const c = client({ hosts: a.url });
    const seen: string[] = [];
    c.onStateChange(boom);
    c.onStateChange(e => seen.push(`${e.from} -> ${e.to}`));
    await waitUntil(() => c.health().endpoints[0].channelState === 'READY', 'READY');
    expect(await c.get('k').string()).toBeNull();
    await settle();
    expect(seen).toContain('CONNECTING -> READY');
    expect(uncaught).toEqual([]);
  });

  test('onRebuild: the process does not crash and the read is still answered', async () => {
    const [a, b] = await fakes(2);
    // A broken transport on the first endpoint: asks for a rebuild; the read goes on.
    a.on('KV.range', () => unavailable('Connection dropped'));
    const c = client({ hosts: [a.url, b.url] });
    const rebuilds: string[] = [];
    c.onRebuild(boom);
    c.onRebuild(e => rebuilds.push(e.endpoint));
    await waitUntil(() => c.health().endpoints.every(e => e.channelState === 'READY'), 'READY');
    for (let i = 0; i < 4 && rebuilds.length === 0; i++) {
      expect(await c.get('k').string()).toBeNull();
    }
    await settle();
    expect(rebuilds).toContain(a.url);
    expect(uncaught).toEqual([]);
  });

  test('onBreakerStateChange: the call fails with its own error and nothing crashes', async () => {
    const [a] = await fakes(1);
    a.on('KV.range', () => ({ code: Status.RESOURCE_EXHAUSTED, details: 'too many requests' }));
    const c = client({
      hosts: a.url,
      retry: { maxAttempts: 0 },
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    const states: string[] = [];
    c.onBreakerStateChange(boom);
    c.onBreakerStateChange(e => states.push(e.state));
    const { error } = await timed(() => c.get('k').string());
    expect(error?.message).toMatch(/too many requests/);
    await settle();
    expect(states).toEqual(['open']);
    expect(uncaught).toEqual([]);
  });
});
