/**
 * The few OpenTelemetry shapes the library uses, declared structurally so that neither
 * our code nor our published types need `@opentelemetry/api` (an optional peer). An
 * SDK `TracerProvider` (`@opentelemetry/sdk-trace-base`, `sdk-trace-node`) fits
 * {@link TracerProviderLike} as is.
 *
 * `@opentelemetry/api` itself is loaded lazily, once, with `require` in a try/catch:
 * when it is absent and no provider is given, tracing costs nothing.
 */

/** A value an OpenTelemetry attribute may hold. */
export type AttributeValue = string | number | boolean;

/** The part of an OpenTelemetry `Span` the library uses. */
export interface SpanLike {
  spanContext(): { traceId: string; spanId: string; traceFlags: number; traceState?: unknown };
  setAttribute(key: string, value: AttributeValue): unknown;
  addEvent(name: string, attributes?: Record<string, AttributeValue>): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  isRecording(): boolean;
  end(): void;
}

/** The part of an OpenTelemetry `Tracer` the library uses. */
export interface TracerLike {
  startSpan(
    name: string,
    options?: { kind?: number; attributes?: Record<string, AttributeValue> },
    context?: any,
  ): SpanLike;
}

/**
 * An OpenTelemetry `TracerProvider` (from `@opentelemetry/api` or an SDK), as accepted
 * by the `tracerProvider` options.
 */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): TracerLike;
}

/** The part of the `@opentelemetry/api` module the library uses. */
export interface OtelApi {
  trace: {
    getTracerProvider(): TracerProviderLike;
    setSpan(context: unknown, span: SpanLike): unknown;
  };
  context: { active(): unknown };
  /** The global provider's class; `new ProxyTracerProvider().getDelegate()` is the no-op provider. */
  ProxyTracerProvider?: new () => { getDelegate(): unknown };
  propagation: {
    inject(
      context: unknown,
      carrier: unknown,
      setter?: { set(c: any, k: string, v: string): void },
    ): void;
  };
}

/** `SpanKind.CLIENT` and `SpanStatusCode.ERROR` of `@opentelemetry/api` (stable values). */
export const SPAN_KIND_CLIENT = 2;
export const SPAN_STATUS_ERROR = 2;

let cached: OtelApi | null | undefined;
const requireApi = (): unknown => require('@opentelemetry/api');

/**
 * `@opentelemetry/api` if installed (and shaped as expected), else `undefined`. The
 * module is required on the first call only.
 *
 * @param load how to load it; tests pass a fake. Defaults to `require('@opentelemetry/api')`.
 */
export function loadOtelApi(load: () => unknown = requireApi): OtelApi | undefined {
  if (load === requireApi && cached !== undefined) {
    return cached ?? undefined;
  }
  let api: OtelApi | undefined;
  try {
    const mod = load() as Partial<OtelApi> | undefined;
    if (
      typeof mod?.trace?.getTracerProvider === 'function' &&
      typeof mod.context?.active === 'function'
    ) {
      api = mod as OtelApi;
    }
  } catch {
    api = undefined; // not installed: no tracing
  }
  if (load === requireApi) {
    cached = api ?? null;
  }
  return api;
}
