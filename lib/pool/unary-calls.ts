/**
 * The call loop of the pool: a unary call runs in rounds (`call-round.ts`), spaced by
 * the retry policy (`call-retry.ts`) and bounded by its deadline, inside the user's
 * `faultHandling.global` policy; each attempt (`call-attempt.ts`) runs behind its
 * endpoint's breaker and `faultHandling.host` policy. It also owns what calls share:
 * the hedge budget and the hang sweep.
 */
import { status as Status, type CallOptions } from '@grpc/grpc-js';
import type { IPolicy, RetryPolicy } from 'cockatiel';
import { ClientClosedError } from 'etcd3';
import { CallAbort } from '../cancel/call-abort';
import { NoEndpointAvailableError } from '../errors';
import type { Emitter } from '../events';
import type { CallOptionsFactory } from '../internals/etcd3';
import { takeSignal } from '../policy/abort';
import { describeError } from '../policy/describe-error';
import type { RpcTracer } from '../tracing/call-trace';
import { traceEtcdCall } from '../tracing/create-tracer';
import { attempt } from './call-attempt';
import type { AttemptHandle, CallPool, CallState } from './call-context';
import type { CallEvent, RetryEvent } from './call-events';
import { isSafeCall } from './call-kind';
import { createRetryPolicy } from './call-retry';
import { runRound } from './call-round';
import { marksOf } from './classify';
import type { Endpoint, ServiceName } from './endpoint';
import { HangSweep } from './hang-sweep';
import { HedgeBudget } from './hedge-budget';
import { callOptionsFor } from './resolve-call-options';

/** What the call loop publishes and is configured with, besides the pool itself. */
export interface UnaryCallsOptions {
  readonly defaults: CallOptionsFactory | undefined;
  /** The user's `faultHandling.global`, around each whole call (all its rounds). */
  readonly globalPolicy: IPolicy | undefined;
  /** Undefined without tracing (no provider, no `@opentelemetry/api`): no per-call cost. */
  readonly tracer: RpcTracer | undefined;
  readonly retries: Emitter<RetryEvent>;
  readonly calls: Emitter<CallEvent>;
}

export class UnaryCalls {
  /** Caps hedged attempts at 10 % of calls (plus 5 per 10 s), as gRPC's retry throttling. */
  private readonly hedgeBudget = new HedgeBudget();
  private readonly sweep: HangSweep;
  private readonly retryPolicy: RetryPolicy;

  constructor(
    private readonly pool: CallPool,
    private readonly config: UnaryCallsOptions,
  ) {
    this.sweep = new HangSweep(pool);
    this.retryPolicy = createRetryPolicy(pool, e => config.retries.emit(e));
  }

  /** Runs a unary call to the end: its result, or etcd3's typed error (or ours). */
  exec<T>(
    service: ServiceName,
    method: string,
    payload: unknown,
    options: CallOptions | undefined,
  ): Promise<T> {
    const start = Date.now();
    let call: CallState;
    try {
      call = this.newCall(service, method, payload, options, start);
    } catch (err) {
      return Promise.reject(err);
    }
    const global = this.config.globalPolicy;
    const signal = call.abort.signal;
    const work = global ? global.execute(() => this.rounds<T>(call), signal) : this.rounds<T>(call);
    return call.abort.race(work).then(
      result => {
        this.emitCall(call, start, 'OK');
        call.trace.end(undefined, Status.OK, call.endpoint?.url);
        return result;
      },
      err => {
        const final = this.finalError(call, err);
        this.emitCall(call, start, codeOf(final));
        call.trace.end(final, marksOf(final)?.grpcCode, call.endpoint?.url);
        throw final;
      },
    );
  }

  /**
   * The state of a new call; throws `InvalidOptionError` for bad options and the
   * call's `AbortError` if its signal has already aborted (nothing is sent).
   */
  private newCall(
    service: ServiceName,
    method: string,
    payload: unknown,
    options: CallOptions | undefined,
    start: number,
  ): CallState {
    const { defaults, tracer } = this.config;
    const { callOptions, deadlineAt } = callOptionsFor(options, defaults, service, method, payload);
    const deadline = deadlineAt ?? start + this.pool.options.callTimeoutMs;
    const safe = isSafeCall(service, method, payload, callOptions);
    const { signal, rest } = takeSignal(callOptions);
    const abort = signal ? new CallAbort(signal, `${service}.${method}`, safe) : CallAbort.NONE;
    abort.check(); // an aborted signal sends nothing
    this.hedgeBudget.deposit();
    return {
      service,
      method,
      payload,
      callOptions: withoutDeadline(rest ?? callOptions),
      deadline,
      timeoutMs: deadline - start,
      safe,
      abort,
      trace: traceEtcdCall(tracer, service, method),
    };
  }

  /**
   * All rounds of `call`. The first runs outside the retry policy (most calls end
   * there); its failure is handed to the policy as the outcome of the policy's first
   * attempt, so that retries, backoff and `onRetry` are exactly the policy's.
   */
  private rounds<T>(call: CallState): Promise<T> {
    return this.round<T>(call).catch(err => {
      let first = true;
      return this.retryPolicy.execute(() => {
        if (first) {
          first = false;
          throw err;
        }
        return this.round<T>(call);
      }, call.abort.signal);
    });
  }

  close(): void {
    this.sweep.close();
  }

  private round<T>(call: CallState): Promise<T> {
    return runRound<T>(this.pool, this.hedgeBudget, call, this.attemptOn);
  }

  /** One attempt, inside the endpoint's host policy and breaker. */
  private readonly attemptOn = <T>(ep: Endpoint, call: CallState, handle: AttemptHandle) =>
    this.pool.onHost(ep, () =>
      ep.breaker.execute(() => attempt<T>(this.pool, this.sweep, ep, call, handle)),
    );

  private finalError(call: CallState, err: unknown): unknown {
    if (this.pool.closed && !(err instanceof ClientClosedError)) {
      return new ClientClosedError(call.service);
    }
    if (marksOf(err) || (err instanceof Error && !(err as any).neverSent)) {
      return err;
    }
    // Never sent anywhere within the deadline (no endpoint connected).
    return new NoEndpointAvailableError(
      `${call.service}.${call.method}: no etcd endpoint could be reached within ${call.timeoutMs} ms: ${describeError(err)}`,
      err,
    );
  }

  private emitCall(call: CallState, start: number, code: string): void {
    if (this.config.calls.size > 0) {
      this.config.calls.emit({
        service: call.service,
        method: call.method,
        endpoint: call.endpoint?.url,
        durationMs: Date.now() - start,
        code,
      });
    }
  }
}

/**
 * What grpc-js is given of the call's options: everything but `deadline`, which the
 * attempt keeps with its own timer (`call-attempt.ts`). The same object when it has none.
 */
function withoutDeadline(options: CallOptions): CallOptions {
  if (options.deadline === undefined) {
    return options;
  }
  const { deadline: _, ...rest } = options;
  return rest;
}

/** The `code` of a {@link CallEvent}: a gRPC status name, our error's code, or `UNKNOWN`. */
function codeOf(err: unknown): string {
  const grpcCode = marksOf(err)?.grpcCode;
  if (grpcCode !== undefined) {
    return Status[grpcCode] ?? String(grpcCode);
  }
  return (err as { code?: unknown })?.code && typeof (err as any).code === 'string'
    ? (err as any).code
    : 'UNKNOWN';
}
