/**
 * One OpenTelemetry span per logical call, following the RPC semantic conventions:
 * named `<package>.<Service>/<Method>` (`etcdserverpb.KV/Range`), kind CLIENT, with
 * `rpc.system` = `grpc`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code` and the
 * `server.address` / `server.port` of the endpoint that answered (or was tried last).
 * A failed call sets the span status to ERROR.
 *
 * What happens inside the call is recorded as **span events**, not child spans: one
 * span per call keeps trace volume bounded when an outage multiplies attempts, and the
 * events carry their own timestamps. Events (attributes in brackets):
 * - `attempt` — an attempt was sent (`server.address`, `server.port`, `resilient.attempt`: 1, 2, ...)
 * - `attempt.failed` — it failed (`server.*`, `rpc.grpc.status_code`, `error.type`)
 * - `retry` — a retry round starts after a backoff (`resilient.attempt`, `resilient.delay_ms`)
 * - `hedge` — a hedged copy of a read was sent (`server.*`, `resilient.delay_ms`)
 * - `breaker.rejected` — an endpoint's open circuit breaker refused the call (`server.*`)
 */
import { describeError } from '../policy/describe-error';
import {
  SPAN_KIND_CLIENT,
  SPAN_STATUS_ERROR,
  type AttributeValue,
  type OtelApi,
  type SpanLike,
  type TracerLike,
} from './otel';
import { serverAttributes } from './server-address';
import { grpcStatusCodeOf } from './status-code';

/** What a call reports to its trace. Every method is cheap and never throws. */
export interface CallTrace {
  /** False for the no-op trace (nothing is recorded): skip building event payloads. */
  readonly recording: boolean;
  /** An attempt is sent to `endpoint` (URL or grpc-js peer). */
  attempt(endpoint: string | undefined): void;
  /** The attempt to `endpoint` failed with `err` (gRPC `code` if known). */
  attemptFailed(endpoint: string | undefined, err: unknown, code?: number): void;
  /** Retry round `attempt` (1 for the first retry) starts after `delayMs`. */
  retry(attempt: number, delayMs: number): void;
  /** A hedged copy of the call is sent to `endpoint`, `delayMs` after the first. */
  hedge(endpoint: string | undefined, delayMs?: number): void;
  /** `endpoint`'s open circuit breaker refused the call. */
  breakerRejected(endpoint: string | undefined): void;
  /**
   * The call settled: `err` undefined for success. `code` is the gRPC status code if
   * known (else derived from `err`); `endpoint` the one that answered or was tried last.
   * Ends the span; later calls are ignored.
   */
  end(err?: unknown, code?: number, endpoint?: string): void;
  /** The W3C `traceparent` of the call's span, for propagation; undefined when not recording. */
  traceparent(): string | undefined;
  /** The span's OpenTelemetry context (for `propagation.inject`), if the API is loaded. */
  context(): unknown;
}

const noop = (): void => undefined;

/** The trace of a call that is not traced. */
export const NOOP_TRACE: CallTrace = Object.freeze({
  recording: false,
  attempt: noop,
  attemptFailed: noop,
  retry: noop,
  hedge: noop,
  breakerRejected: noop,
  end: noop,
  traceparent: () => undefined,
  context: () => undefined,
});

/**
 * Starts spans for calls. Made by `createRpcTracer()`; `startCall` never throws (a
 * faulty tracer yields {@link NOOP_TRACE}).
 */
export class RpcTracer {
  /** Span name and options per service and method, made once (they never change). */
  private readonly starts = new Map<string, Map<string, SpanStart>>();

  constructor(
    private readonly tracer: TracerLike,
    private readonly api: OtelApi | undefined,
    /** True while spans would record nothing for sure (the global provider without an SDK). */
    private readonly noSdk?: () => boolean,
  ) {}

  /** Whether a span started now would record nothing for sure; cheap, never throws. */
  idle(): boolean {
    try {
      return this.noSdk?.() === true;
    } catch {
      return false;
    }
  }

  /**
   * Starts the span of a call to `service` (full name, e.g. `etcdserverpb.KV`) and
   * `method` (`Range`), as a child of the active context.
   */
  startCall(service: string, method: string): CallTrace {
    try {
      const parent = this.api?.context.active();
      const start = this.spanStart(service, method);
      const span = this.tracer.startSpan(start.name, start.options, parent);
      if (!span.isRecording()) {
        span.end();
        return NOOP_TRACE;
      }
      return new SpanCallTrace(span, this.api, parent);
    } catch {
      return NOOP_TRACE;
    }
  }

  private spanStart(service: string, method: string): SpanStart {
    let methods = this.starts.get(service);
    if (!methods) {
      methods = new Map();
      this.starts.set(service, methods);
    }
    let start = methods.get(method);
    if (!start) {
      start = Object.freeze({
        name: `${service}/${method}`,
        options: Object.freeze({
          kind: SPAN_KIND_CLIENT,
          attributes: Object.freeze({
            'rpc.system': 'grpc',
            'rpc.service': service,
            'rpc.method': method,
          }),
        }),
      });
      methods.set(method, start);
    }
    return start;
  }
}

/** The name and options a call's span starts with. */
interface SpanStart {
  readonly name: string;
  readonly options: {
    readonly kind: number;
    readonly attributes: Readonly<Record<string, AttributeValue>>;
  };
}

class SpanCallTrace implements CallTrace {
  readonly recording = true;
  private attempts = 0;
  private ended = false;

  constructor(
    private readonly span: SpanLike,
    private readonly api: OtelApi | undefined,
    private readonly parent: unknown,
  ) {}

  attempt(endpoint: string | undefined): void {
    this.event('attempt', { ...serverAttributes(endpoint), 'resilient.attempt': ++this.attempts });
  }

  attemptFailed(endpoint: string | undefined, err: unknown, code?: number): void {
    this.event('attempt.failed', {
      ...serverAttributes(endpoint),
      'rpc.grpc.status_code': code ?? grpcStatusCodeOf(err),
      'error.type': errorType(err),
    });
  }

  retry(attempt: number, delayMs: number): void {
    this.event('retry', { 'resilient.attempt': attempt, 'resilient.delay_ms': delayMs });
  }

  hedge(endpoint: string | undefined, delayMs?: number): void {
    this.event('hedge', {
      ...serverAttributes(endpoint),
      ...(delayMs === undefined ? {} : { 'resilient.delay_ms': delayMs }),
    });
  }

  breakerRejected(endpoint: string | undefined): void {
    this.event('breaker.rejected', serverAttributes(endpoint));
  }

  end(err?: unknown, code?: number, endpoint?: string): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    try {
      const failed = err !== undefined;
      const attrs: Record<string, AttributeValue> = {
        ...serverAttributes(endpoint),
        'rpc.grpc.status_code': code ?? (failed ? grpcStatusCodeOf(err) : 0),
      };
      if (failed) {
        attrs['error.type'] = errorType(err);
      }
      for (const [k, v] of Object.entries(attrs)) {
        this.span.setAttribute(k, v);
      }
      if (failed) {
        this.span.setStatus({ code: SPAN_STATUS_ERROR, message: describeError(err) });
      }
      this.span.end();
    } catch {
      // a faulty exporter must not change the call's outcome
    }
  }

  traceparent(): string | undefined {
    try {
      const { traceId, spanId, traceFlags } = this.span.spanContext();
      return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    } catch {
      return undefined;
    }
  }

  context(): unknown {
    return this.api?.trace.setSpan(this.parent ?? this.api.context.active(), this.span);
  }

  private event(name: string, attributes: Record<string, AttributeValue>): void {
    if (this.ended) {
      return; // e.g. a hedge's late answer after the call settled
    }
    try {
      this.span.addEvent(name, attributes);
    } catch {
      // never let tracing change a call
    }
  }
}

/** `error.type`: the error's class name (or code), never its message. */
function errorType(err: unknown): string {
  if (err instanceof Error) {
    // etcd3's classes keep the name 'Error': their class name says more.
    return (err.name !== 'Error' && err.name) || err.constructor?.name || 'Error';
  }
  return typeof err;
}
