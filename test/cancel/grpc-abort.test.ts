/**
 * `signal` in the call options of a createGrpcClient client, against a real grpc-js
 * server on 127.0.0.1: an already-aborted signal sends nothing; an abort cancels the
 * call in flight (the server sees the cancellation) and stops its retries.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { EchoClient, echo, startEchoServer, type EchoServer } from '../grpc/echo-service';
import { memoryTracing } from '../tracing/in-memory-tracer';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function server(): Promise<EchoServer> {
  const s = await startEchoServer('s');
  cleanups.push(() => s.kill());
  return s;
}

describe('createGrpcClient: signal in call options', () => {
  it('an already-aborted signal sends nothing and fails with CANCELLED', async () => {
    const s = await server();
    const t = memoryTracing();
    const c = createGrpcClient(EchoClient, s.addr, { tracerProvider: t.provider });
    cleanups.push(() => c.close());
    await echo(c as any, { message: 'warm' });
    const ac = new AbortController();
    ac.abort();
    await expect(echo(c as any, { message: 'x' }, { signal: ac.signal })).rejects.toMatchObject({
      code: grpc.status.CANCELLED,
    });
    expect(s.calls.Echo).toBe(1); // only the warm-up
    expect(t.spans()).toHaveLength(1); // and no span for a call never made
  });

  it('an abort cancels the call in flight and its retries', async () => {
    const s = await server();
    const c = createGrpcClient(EchoClient, s.addr, {
      callTimeoutMs: 60_000,
      idempotentMethods: ['Echo'],
      retry: { maxAttempts: 50, initialDelayMs: 1, maxDelayMs: 1 },
    });
    cleanups.push(() => c.close());
    const ac = new AbortController();
    const call = echo(c as any, { message: 'slow', delayMs: 60_000 }, { signal: ac.signal });
    for (let i = 0; i < 200 && s.calls.Echo === 0; i++) {
      await new Promise(r => setTimeout(r, 5));
    }
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    // The attempt was cancelled, not retried: the client drains.
    for (let i = 0; i < 200 && c.resilience.health().inFlight > 0; i++) {
      await new Promise(r => setTimeout(r, 5));
    }
    expect(c.resilience.health().inFlight).toBe(0);
    expect(s.calls.Echo).toBe(1);
  });

  it('aborted calls do not open the breaker', async () => {
    const s = await server();
    const c = createGrpcClient(EchoClient, s.addr, {
      callTimeoutMs: 60_000,
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    cleanups.push(() => c.close());
    for (let i = 0; i < 3; i++) {
      const ac = new AbortController();
      const call = echo(c as any, { message: `slow${i}`, delayMs: 60_000 }, { signal: ac.signal });
      for (let j = 0; j < 200 && s.calls.Echo === i; j++) {
        await new Promise(r => setTimeout(r, 5));
      }
      ac.abort();
      await expect(call).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    }
    expect(c.resilience.health().breakerState).toBe('closed');
    await expect(echo(c as any, { message: 'hi' })).resolves.toMatchObject({ message: 'hi' });
  });

  it('a signal that never aborts changes nothing', async () => {
    const s = await server();
    const c = createGrpcClient(EchoClient, s.addr);
    cleanups.push(() => c.close());
    const ac = new AbortController();
    await expect(echo(c as any, { message: 'hi' }, { signal: ac.signal })).resolves.toEqual({
      from: 's',
      message: 'hi',
    });
  });
});
