/**
 * Resolves the `tracerProvider` option into an {@link RpcTracer}, or `undefined` for
 * "no tracing": the given provider, else the global one of `@opentelemetry/api` when
 * that optional peer is installed, else none (and no cost at all per call).
 */
import { InvalidOptionError } from '../errors';
import { NOOP_TRACE, RpcTracer, type CallTrace } from './call-trace';
import type { OtelApi, TracerProviderLike } from './otel';

/** Instrumentation scope name of our spans. */
export const TRACER_NAME = 'etcd3-resilient';

/** Throws {@link InvalidOptionError} unless `value` is undefined or has `getTracer()`. */
export function validateTracerProvider(value: unknown, field = 'tracerProvider'): void {
  if (
    value !== undefined &&
    (typeof value !== 'object' ||
      value === null ||
      typeof (value as TracerProviderLike).getTracer !== 'function')
  ) {
    throw new InvalidOptionError(field, 'must be an OpenTelemetry TracerProvider (getTracer())');
  }
}

/**
 * The tracer for `provider`; with none, the global provider's (`trace.getTracerProvider()`
 * of `@opentelemetry/api`, which follows a provider registered later); `undefined` when
 * no provider is given and the API is not installed.
 *
 * @param api the API module, `loadOtelApi()` (undefined when not installed)
 */
export function createRpcTracer(
  provider: TracerProviderLike | undefined,
  api: OtelApi | undefined,
): RpcTracer | undefined {
  validateTracerProvider(provider);
  const source = provider ?? api?.trace.getTracerProvider();
  if (!source) {
    return undefined;
  }
  return new RpcTracer(source.getTracer(TRACER_NAME), api, provider ? undefined : noSdk(api));
}

/**
 * For the global provider: a check, cheap enough per call, that no SDK is registered
 * yet (the global `ProxyTracerProvider` still delegates to the API's no-op provider),
 * so an etcd call need not start a span that records nothing. `undefined` if the API
 * does not look like that.
 */
function noSdk(api: OtelApi | undefined): (() => boolean) | undefined {
  const proxy = api?.trace.getTracerProvider() as { getDelegate?(): unknown } | undefined;
  const Proxy = api?.ProxyTracerProvider;
  if (typeof proxy?.getDelegate !== 'function' || typeof Proxy !== 'function') {
    return undefined;
  }
  try {
    const noop = new Proxy().getDelegate(); // the API's own no-op provider
    return () => proxy.getDelegate!() === noop;
  } catch {
    return undefined;
  }
}

/** `etcdserverpb.KV` and `Range` for etcd3's service `KV` and method `range`. */
export function etcdRpcName(service: string, method: string): { service: string; method: string } {
  return {
    service: `etcdserverpb.${service}`,
    method: method.length > 0 ? method[0].toUpperCase() + method.slice(1) : method,
  };
}

/**
 * The trace of an etcd call (`KV`, `range`): a span, or {@link NOOP_TRACE} without a
 * tracer or while the global provider has no SDK behind it (nothing would be recorded,
 * and etcd is sent no trace context).
 */
export function traceEtcdCall(
  tracer: RpcTracer | undefined,
  service: string,
  method: string,
): CallTrace {
  if (!tracer || tracer.idle()) {
    return NOOP_TRACE;
  }
  let names = ETCD_NAMES.get(service);
  if (!names) {
    names = new Map();
    ETCD_NAMES.set(service, names);
  }
  let name = names.get(method);
  if (!name) {
    name = etcdRpcName(service, method);
    names.set(method, name);
  }
  return tracer.startCall(name.service, name.method);
}

/** {@link etcdRpcName} of each etcd3 service and method called so far (a fixed, small set). */
const ETCD_NAMES = new Map<string, Map<string, { service: string; method: string }>>();
