/**
 * createGrpcClient({ tracerProvider }) against real grpc-js servers on 127.0.0.1: one
 * span per logical call with the RPC semantic-convention attributes, attempts as
 * events, ERROR status on failure, and the W3C traceparent received by the server.
 */
import * as grpc from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/errors';
import type { GrpcClientOptions } from '../../lib/grpc/client-options';
import { createGrpcClient } from '../../lib/grpc/create-client';
import { EchoClient, echo, echoDefinition, type EchoRequest } from '../grpc/echo-service';
import { enableContext, memoryTracing } from './in-memory-tracer';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** An Echo server that records the `traceparent` of every call and can fail the first n. */
async function tracingServer(failFirst = 0, code = grpc.status.UNAVAILABLE) {
  const server = new grpc.Server();
  const traceparents: string[] = [];
  let calls = 0;
  server.addService(echoDefinition, {
    Echo: (call: grpc.ServerUnaryCall<EchoRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      traceparents.push(String(call.metadata.get('traceparent')[0] ?? ''));
      if (++calls <= failFirst) {
        cb({ code, details: 'asked to fail' });
      } else {
        cb(null, { from: 's', message: call.request.message });
      }
    },
    Count: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  return { addr: `127.0.0.1:${port}`, port, traceparents };
}

function client(target: string, options: GrpcClientOptions) {
  const c = createGrpcClient(EchoClient, target, {
    retry: { initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  cleanups.push(() => c.close());
  return c;
}

describe('createGrpcClient tracing', () => {
  it('makes one CLIENT span per call, named <package>.<Service>/<Method>, with the RPC attributes', async () => {
    const t = memoryTracing();
    const s = await tracingServer();
    const c = client(s.addr, { tracerProvider: t.provider });
    await echo(c as any, { message: 'hi' });
    const spans = t.spans();
    expect(spans).toHaveLength(1);
    const [span] = spans;
    expect(span.name).toBe('test.Echo/Echo');
    expect(span.kind).toBe(2); // CLIENT
    expect(span.attributes).toMatchObject({
      'rpc.system': 'grpc',
      'rpc.service': 'test.Echo',
      'rpc.method': 'Echo',
      'rpc.grpc.status_code': 0,
      'server.address': '127.0.0.1',
      'server.port': s.port,
    });
    expect(span.status.code).toBe(0); // UNSET
    expect(t.events(span)).toEqual(['attempt']);
  });

  it('sends the W3C traceparent of the call span to the server, as a child of the active span', async () => {
    const t = memoryTracing();
    const s = await tracingServer();
    const c = client(s.addr, { tracerProvider: t.provider });
    cleanups.push(enableContext());
    const parent = t.provider.getTracer('test').startSpan('parent');
    await context.with(trace.setSpan(context.active(), parent), () =>
      echo(c as any, { message: 'hi' }),
    );
    parent.end();
    const call = t.spans().find(x => x.name === 'test.Echo/Echo')!;
    const { traceId, spanId } = call.spanContext();
    expect(s.traceparents).toEqual([`00-${traceId}-${spanId}-01`]);
    expect(traceId).toBe(parent.spanContext().traceId);
    expect(call.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
  });

  it('records every attempt of a retried call as events on the one span', async () => {
    const t = memoryTracing();
    const s = await tracingServer(2);
    const c = client(s.addr, { tracerProvider: t.provider, idempotentMethods: ['Echo'] });
    await echo(c as any, { message: 'hi' });
    const spans = t.spans();
    expect(spans).toHaveLength(1);
    expect(t.events(spans[0])).toEqual([
      'attempt',
      'attempt.failed',
      'attempt',
      'attempt.failed',
      'attempt',
    ]);
    const failed = spans[0].events.filter(e => e.name === 'attempt.failed');
    expect(failed[0].attributes).toMatchObject({
      'rpc.grpc.status_code': grpc.status.UNAVAILABLE,
      'error.type': 'UNAVAILABLE',
      'server.port': s.port,
    });
    expect(spans[0].events.filter(e => e.name === 'attempt').map(e => e.attributes)).toEqual([
      { 'resilient.attempt': 1 },
      { 'resilient.attempt': 2 },
      { 'resilient.attempt': 3 },
    ]);
    expect(spans[0].attributes['rpc.grpc.status_code']).toBe(0);
  });

  it('sets status ERROR and the final gRPC code on a failed call', async () => {
    const t = memoryTracing();
    const s = await tracingServer(100, grpc.status.NOT_FOUND);
    const c = client(s.addr, { tracerProvider: t.provider });
    await expect(echo(c as any, { message: 'x' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    const [span] = t.spans();
    expect(span.status).toMatchObject({ code: 2 }); // ERROR
    expect(span.status.message).toContain('asked to fail');
    expect(span.attributes).toMatchObject({
      'rpc.grpc.status_code': grpc.status.NOT_FOUND,
      'error.type': 'NOT_FOUND',
    });
  });

  it('records a breaker rejection', async () => {
    const t = memoryTracing();
    const s = await tracingServer(1000);
    const c = client(s.addr, {
      tracerProvider: t.provider,
      retry: { maxAttempts: 0 },
      breaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    await expect(echo(c as any, { message: 'a' })).rejects.toBeTruthy();
    await expect(echo(c as any, { message: 'b' })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    const spans = t.spans();
    expect(spans).toHaveLength(2);
    expect(t.events(spans[1])).toEqual(['breaker.rejected']);
    expect(spans[1].status.code).toBe(2);
  });

  it('uses the global provider of @opentelemetry/api when none is given', async () => {
    const t = memoryTracing();
    const s = await tracingServer();
    trace.setGlobalTracerProvider(t.provider);
    cleanups.push(() => trace.disable());
    const c = client(s.addr, {});
    await echo(c as any, { message: 'hi' });
    expect(t.spans().map(x => x.name)).toEqual(['test.Echo/Echo']);
    expect(s.traceparents[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('sends no traceparent and records nothing without any provider', async () => {
    const s = await tracingServer();
    const c = client(s.addr, {});
    await echo(c as any, { message: 'hi' });
    expect(s.traceparents).toEqual(['']);
  });

  it('rejects a tracerProvider without getTracer()', () => {
    expect(() =>
      createGrpcClient(EchoClient, '127.0.0.1:1', { tracerProvider: {} as any }),
    ).toThrow(InvalidOptionError);
  });
});
