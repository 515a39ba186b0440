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
  async exec<T>(
    service: ServiceName,
    method: string,
    payload: unknown,
    options: CallOptions | undefined,
  ): Promise<T> {
    const { callOptions, deadlineAt } = callOptionsFor(options, this.config.defaults, {
      service,
      method,
      params: payload,
      isStream: false,
    });
    const start = Date.now();
    const deadline = deadlineAt ?? start + this.pool.options.callTimeoutMs;
    const safe = isSafeCall(service, method, payload, callOptions);
    const { signal, rest } = takeSignal(callOptions);
    const abort = new CallAbort(signal, `${service}.${method}`, safe);
    abort.check(); // an aborted signal sends nothing
    this.hedgeBudget.deposit();
    const call: CallState = {
      service,
      method,
      payload,
      callOptions: rest ?? callOptions,
      deadline,
      timeoutMs: deadline - start,
      safe,
      abort,
      trace: traceEtcdCall(this.config.tracer, service, method),
    };
    try {
      const rounds = () => this.retryPolicy.execute(() => this.round<T>(call), signal);
      const global = this.config.globalPolicy;
      const work = global ? global.execute(rounds, signal) : rounds();
      const result = await abort.race(work);
      this.emitCall(call, start, 'OK');
      call.trace.end(undefined, Status.OK, call.endpoint?.url);
      return result;
    } catch (err) {
      const final = this.finalError(call, err);
      this.emitCall(call, start, codeOf(final));
      call.trace.end(final, marksOf(final)?.grpcCode, call.endpoint?.url);
      throw final;
    }
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
