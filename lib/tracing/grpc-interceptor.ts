/**
 * Tracing for `createGrpcClient`: two grpc-js interceptors around the resilient one.
 *
 * - {@link tracingInterceptor} (outermost) starts one span per logical call, named from
 *   the method path (`/pkg.Users/GetUser` -> `pkg.Users/GetUser`), puts the W3C
 *   `traceparent` (and whatever the global propagator adds) in the request metadata,
 *   and ends the span with the final status and the peer that answered.
 * - {@link attemptEventsInterceptor} (inside the retries) records each attempt, and each
 *   failed attempt, as span events.
 *
 * The two find each other through a symbol-keyed call option (grpc-js hands the options
 * object down the interceptor chain).
 */
import {
  InterceptingCall,
  status as Status,
  type Interceptor,
  type Metadata,
  type StatusObject,
} from '@grpc/grpc-js';
import type { CallTrace, RpcTracer } from './call-trace';
import { createRpcTracer } from './create-tracer';
import { loadOtelApi, type OtelApi, type TracerProviderLike } from './otel';

const TRACE = Symbol.for('etcd3-resilient.call-trace');

interface TracedCall {
  readonly trace: CallTrace;
  /** The status of the last attempt, to tell it from a status made before any attempt. */
  lastAttemptStatus?: StatusObject;
}

/** `pkg.Service` and `Method` of `/pkg.Service/Method`. */
export function splitMethodPath(path: string): { service: string; method: string } {
  const m = /^\/?([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1], method: m[2] } : { service: 'unknown', method: path };
}

/** Starts the span of each call; must be the first interceptor. */
export function tracingInterceptor(tracer: RpcTracer, api: OtelApi | undefined): Interceptor {
  return (options, nextCall) => {
    const { service, method } = splitMethodPath(options.method_definition.path);
    const trace = tracer.startCall(service, method);
    if (!trace.recording) {
      return new InterceptingCall(nextCall(options));
    }
    const traced: TracedCall = { trace };
    const inner = nextCall({ ...options, [TRACE]: traced } as typeof options);
    return new InterceptingCall(inner, {
      start(metadata, _listener, next) {
        inject(trace, api, metadata);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            if (
              status.code !== Status.OK &&
              status !== traced.lastAttemptStatus &&
              /circuit breaker/.test(status.details)
            ) {
              // Made by the resilient interceptor, not by an attempt: the breaker refused it.
              trace.breakerRejected(safePeer(inner));
            }
            trace.end(
              status.code === Status.OK ? undefined : statusError(status),
              status.code,
              safePeer(inner),
            );
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** Records attempts as events on the call's span; must come after the resilient interceptor. */
export function attemptEventsInterceptor(): Interceptor {
  return (options, nextCall) => {
    const traced = (options as unknown as Record<symbol, TracedCall | undefined>)[TRACE];
    const call = nextCall(options);
    if (!traced) {
      return new InterceptingCall(call);
    }
    return new InterceptingCall(call, {
      start(metadata, _listener, next) {
        traced.trace.attempt(undefined); // the peer is known only once the call is under way
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            traced.lastAttemptStatus = status;
            if (status.code !== Status.OK) {
              traced.trace.attemptFailed(safePeer(call), statusError(status), status.code);
            }
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** Writes the span's context into `metadata`: W3C `traceparent`, then the global propagator. */
function inject(trace: CallTrace, api: OtelApi | undefined, metadata: Metadata): void {
  try {
    const traceparent = trace.traceparent();
    if (traceparent) {
      metadata.set('traceparent', traceparent);
    }
    api?.propagation.inject(trace.context(), metadata, {
      set: (carrier: Metadata, key: string, value: string) => carrier.set(key, value),
    });
  } catch {
    // a faulty propagator must not fail the call
  }
}

function safePeer(call: { getPeer(): string }): string | undefined {
  try {
    return call.getPeer() || undefined;
  } catch {
    return undefined;
  }
}

/** An error describing a non-OK status, for the span's status message and `error.type`. */
function statusError(status: StatusObject): Error {
  const err = new Error(status.details);
  err.name = Status[status.code] ?? String(status.code); // `error.type`, e.g. UNAVAILABLE
  return err;
}

/**
 * The interceptor list of a `createGrpcClient` client: `resilient`, then the user's;
 * with tracing (a `provider`, or the global one when `@opentelemetry/api` is installed)
 * the span-starting interceptor goes first and the attempt recorder right after
 * `resilient`. Throws `InvalidOptionError` for a provider without `getTracer()`.
 */
export function tracedInterceptors(
  provider: TracerProviderLike | undefined,
  resilient: Interceptor,
  user: readonly Interceptor[],
): Interceptor[] {
  const api = loadOtelApi();
  const tracer = createRpcTracer(provider, api);
  if (!tracer) {
    return [resilient, ...user];
  }
  return [tracingInterceptor(tracer, api), resilient, attemptEventsInterceptor(), ...user];
}
