/**
 * The tracing core without any network: tracer resolution (given, global, none),
 * the no-op path, span attributes and events, and that a faulty tracer never throws.
 */
import { describe, expect, it } from 'vitest';
import { GRPCUnavailableError } from 'etcd3';
import {
  DeadlineExceededError,
  InvalidOptionError,
  NoEndpointAvailableError,
} from '../../lib/errors';
import { AbortError } from '../../lib/policy/abort';
import { NOOP_TRACE } from '../../lib/tracing/call-trace';
import { createRpcTracer, etcdRpcName, traceEtcdCall } from '../../lib/tracing/create-tracer';
import { loadOtelApi, type OtelApi, type TracerProviderLike } from '../../lib/tracing/otel';
import { serverAttributes } from '../../lib/tracing/server-address';
import { grpcStatusCodeOf } from '../../lib/tracing/status-code';
import { memoryTracing } from './in-memory-tracer';

describe('createRpcTracer', () => {
  it('is undefined (no tracing, no per-call cost) without a provider and without the API', () => {
    expect(createRpcTracer(undefined, undefined)).toBeUndefined();
  });

  it('uses the global provider of the API when none is given', () => {
    const t = memoryTracing();
    const api = { ...(loadOtelApi() as OtelApi) };
    api.trace = { ...api.trace, getTracerProvider: () => t.provider };
    createRpcTracer(undefined, api)!.startCall('etcdserverpb.KV', 'Range').end();
    expect(t.spans().map(s => s.name)).toEqual(['etcdserverpb.KV/Range']);
  });

  it('starts no span for an etcd call while the global provider has no SDK; does once one is registered', () => {
    const api = loadOtelApi() as OtelApi;
    const { ProxyTracerProvider } = require('@opentelemetry/api');
    // A global provider as the API has it before any SDK is registered, watched for spans.
    const proxy = new ProxyTracerProvider();
    let started = 0;
    const counting = {
      getTracer: (...a: [string]) => {
        const tracer = proxy.getTracer(...a); // follows a delegate set later
        return {
          startSpan: (...s: unknown[]) => (started++, tracer.startSpan(...(s as [string]))),
        };
      },
    };
    const global = { ...api, trace: { ...api.trace, getTracerProvider: () => proxy } };
    const viaProxy = { getDelegate: () => proxy.getDelegate(), getTracer: counting.getTracer };
    global.trace.getTracerProvider = () => viaProxy as never;
    const tracer = createRpcTracer(undefined, global)!;
    expect(traceEtcdCall(tracer, 'KV', 'range')).toBe(NOOP_TRACE);
    expect(started).toBe(0); // nothing started at all, not even a no-op span
    const t = memoryTracing();
    proxy.setDelegate(t.provider); // an SDK registered after the client was made
    expect(traceEtcdCall(tracer, 'KV', 'range').recording).toBe(true);
    expect(started).toBe(1);
    // A provider given explicitly is always used.
    const given = createRpcTracer(t.provider, global)!;
    expect(given.idle()).toBe(false);
  });

  it('accepts an SDK TracerProvider without the API module', () => {
    const t = memoryTracing();
    const provider: TracerProviderLike = t.provider; // type check: the SDK provider fits
    const call = createRpcTracer(provider, undefined)!.startCall('etcdserverpb.KV', 'Put');
    call.attempt('http://10.0.0.1:2379');
    call.retry(1, 50);
    call.hedge('http://10.0.0.2:2379', 20);
    call.breakerRejected('http://10.0.0.3:2379');
    call.end(new GRPCUnavailableError('down'), undefined, 'http://10.0.0.2:2379');
    call.end(); // ignored: already ended
    const [span] = t.spans();
    expect(span.attributes).toEqual({
      'rpc.system': 'grpc',
      'rpc.service': 'etcdserverpb.KV',
      'rpc.method': 'Put',
      'rpc.grpc.status_code': 14,
      'error.type': 'GRPCUnavailableError',
      'server.address': '10.0.0.2',
      'server.port': 2379,
    });
    expect(span.status.code).toBe(2);
    expect(span.events.map(e => [e.name, e.attributes])).toEqual([
      ['attempt', { 'server.address': '10.0.0.1', 'server.port': 2379, 'resilient.attempt': 1 }],
      ['retry', { 'resilient.attempt': 1, 'resilient.delay_ms': 50 }],
      ['hedge', { 'server.address': '10.0.0.2', 'server.port': 2379, 'resilient.delay_ms': 20 }],
      ['breaker.rejected', { 'server.address': '10.0.0.3', 'server.port': 2379 }],
    ]);
    expect(call.traceparent()).toBe(
      `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
    );
  });

  it('returns the no-op trace for a non-recording span and for a tracer that throws', () => {
    const nonRecording: TracerProviderLike = {
      getTracer: () => ({
        startSpan: () => ({
          spanContext: () => ({ traceId: '0', spanId: '0', traceFlags: 0 }),
          setAttribute: () => undefined,
          addEvent: () => undefined,
          setStatus: () => undefined,
          isRecording: () => false,
          end: () => undefined,
        }),
      }),
    };
    expect(createRpcTracer(nonRecording, undefined)!.startCall('s', 'm')).toBe(NOOP_TRACE);
    const throwing: TracerProviderLike = {
      getTracer: () => ({
        startSpan: () => {
          throw new Error('exporter bug');
        },
      }),
    };
    const call = createRpcTracer(throwing, undefined)!.startCall('s', 'm');
    expect(call).toBe(NOOP_TRACE);
    expect(() => call.end(new Error('x'))).not.toThrow();
  });

  it('rejects a provider without getTracer()', () => {
    expect(() => createRpcTracer({} as any, undefined)).toThrow(InvalidOptionError);
  });
});

describe('loadOtelApi', () => {
  it('is undefined when the module cannot be loaded or is not the API', () => {
    expect(
      loadOtelApi(() => {
        throw new Error("Cannot find module '@opentelemetry/api'");
      }),
    ).toBeUndefined();
    expect(loadOtelApi(() => ({}))).toBeUndefined();
    expect(loadOtelApi()).toBeDefined(); // installed as a dev dependency
  });
});

describe('etcdRpcName', () => {
  it('maps etcd3 service and method names to the proto names', () => {
    expect(etcdRpcName('KV', 'range')).toEqual({ service: 'etcdserverpb.KV', method: 'Range' });
    expect(etcdRpcName('Lease', 'leaseGrant')).toEqual({
      service: 'etcdserverpb.Lease',
      method: 'LeaseGrant',
    });
  });
});

describe('serverAttributes', () => {
  it.each([
    ['http://10.0.0.1:2379', { 'server.address': '10.0.0.1', 'server.port': 2379 }],
    ['https://etcd.example', { 'server.address': 'etcd.example', 'server.port': 443 }],
    ['http://[::1]:2379', { 'server.address': '::1', 'server.port': 2379 }],
    ['ipv4:127.0.0.1:50051', { 'server.address': '127.0.0.1', 'server.port': 50051 }],
    ['ipv6:[::1]:50051', { 'server.address': '::1', 'server.port': 50051 }],
    ['127.0.0.1:50051', { 'server.address': '127.0.0.1', 'server.port': 50051 }],
    ['unix:/tmp/s.sock', { 'server.address': '/tmp/s.sock' }],
    ['', {}],
    [undefined, {}],
  ])('%s', (peer, expected) => {
    expect(serverAttributes(peer)).toEqual(expected);
  });
});

describe('grpcStatusCodeOf', () => {
  it('maps errors to gRPC codes', () => {
    expect(grpcStatusCodeOf(Object.assign(new Error('x'), { code: 14 }))).toBe(14);
    expect(grpcStatusCodeOf(new GRPCUnavailableError('x'))).toBe(14);
    expect(grpcStatusCodeOf(new AbortError('x'))).toBe(1);
    expect(grpcStatusCodeOf(new DeadlineExceededError('range', 10, false))).toBe(4);
    expect(grpcStatusCodeOf(new NoEndpointAvailableError('x'))).toBe(14);
    expect(grpcStatusCodeOf(new Error('x'))).toBe(2);
    expect(grpcStatusCodeOf('string')).toBe(2);
    expect(grpcStatusCodeOf(undefined)).toBe(2);
  });
});
