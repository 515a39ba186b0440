/**
 * The connection pool behind our `Etcd3`: it takes the place of etcd3's own pool
 * (same `ICallable` interface), so every etcd3 feature (KV, watch, lease, lock,
 * election, STM, auth, maintenance) runs through it unchanged.
 *
 * A unary call runs in rounds. In one round each endpoint whose breaker allows it is
 * tried once, best first (breaker closed, channel READY, no recent failure), with
 * no delay between endpoints; rounds are spaced by jittered exponential backoff (a
 * cockatiel retry policy). A read attempt that does not answer within
 * `attemptTimeoutMs` counts as a failure of its endpoint and moves on. A write is
 * sent only on a READY channel and tried elsewhere only if it provably never left
 * this process. Everything is bounded by the call's deadline.
 */
import { Metadata, status as Status, type CallOptions, type Client } from '@grpc/grpc-js';
import { ExponentialBackoff, handleWhen, retry, type IPolicy, type RetryPolicy } from 'cockatiel';
import {
  ClientClosedError,
  EtcdInvalidAuthTokenError,
  GRPCDeadlineExceededError,
  castGrpcError,
  type ICallable,
} from 'etcd3';
import { resolveCallOptions, type CallOptionsFactory } from '../internals/etcd3';
import { readCallOptions } from '../policy/call-options';
import { callStartedStream } from '../policy/stream-started';
import {
  DeadlineExceededError,
  NoEndpointAvailableError,
  WriteOutcomeUnknownError,
} from '../errors';
import { Emitter } from '../events';
import { deadlineMs } from '../policy/deadline';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import { Authenticator } from './authenticator';
import { DeadlineBackoff } from '../policy/deadline-backoff';
import { isSafeCall } from './call-kind';
import { describeError } from '../policy/describe-error';
import {
  isEndpointFailure,
  isTransient,
  mark,
  marksOf,
  neverSent,
  rawNeverSent,
  suggestsBrokenConnection,
  type RawGrpcError,
} from './classify';
import { syncEndpoints } from './auto-sync';
import { HangProbe } from './hang-probe';
import { HedgeBudget } from './hedge-budget';
import { hedgedRace } from './hedged-race';
import { delayFrom, type DelayPolicy } from './latency';
import { rankEndpoints } from './ranking';
import {
  Endpoint,
  NotConnectedError,
  type BreakerState,
  type RebuildEvent,
  type ServiceName,
} from './endpoint';
import type { ChannelState } from '../channel/state';
import { guardStaleToken } from './stale-token-guard';
import { CallAbort } from '../cancel/call-abort';
import { takeSignal } from '../policy/abort';
import type { CallTrace, RpcTracer } from '../tracing/call-trace';
import { createRpcTracer, traceEtcdCall } from '../tracing/create-tracer';
import { loadOtelApi } from '../tracing/otel';

/** Emitted before a retry round. */
export interface RetryEvent {
  readonly method: string;
  /** 1 for the first retry. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

/** Emitted when an endpoint's KV channel changes state. */
export interface StateChangeEvent {
  readonly endpoint: string;
  readonly from: ChannelState;
  readonly to: ChannelState;
}

/** Emitted when an endpoint's circuit breaker changes state. */
export interface BreakerEvent {
  readonly endpoint: string;
  readonly state: BreakerState;
}

/** Emitted when a unary call settles. */
export interface CallEvent {
  readonly service: string;
  readonly method: string;
  /** Endpoint of the last attempt, if one was made. */
  readonly endpoint?: string;
  readonly durationMs: number;
  /** `OK`, a gRPC status name such as `UNAVAILABLE`, or our error's `code`. */
  readonly code: string;
}

interface CallState {
  readonly service: ServiceName;
  readonly method: string;
  readonly payload: unknown;
  readonly callOptions: CallOptions;
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly safe: boolean;
  /** The caller's `signal` (stripped from `callOptions`: grpc-js has none). */
  readonly abort: CallAbort;
  /** The call's span (no-op without tracing). */
  readonly trace: CallTrace;
  endpoint?: Endpoint;
}

/** Lets a hedged round cancel an attempt that lost. */
interface AttemptHandle {
  cancelled: boolean;
  /** The gRPC call, once sent. */
  pending?: { cancel(): void };
}

/** Hedge delay: p95 of recent round trips, at least 20 ms; 100 ms before enough samples. */
const HEDGE_DELAY: DelayPolicy = { quantile: 0.95, floorMs: 20, fallbackMs: 100 };
/** etcd's answer to a `hasleader` request while its member has no leader. */
const NO_LEADER = /etcdserver: no leader/;
/** How often a write asks again while no member has a leader (an election). */
const LEADER_POLL_MS = 50;
/** How often calls in flight are checked for hangs. */
const SWEEP_MS = 100;

const CALL = Symbol('call');
const callOf = (err: unknown): CallState | undefined =>
  typeof err === 'object' && err !== null ? (err as any)[CALL] : undefined;
const withCall = <E>(err: E, call: CallState): E => {
  if (typeof err === 'object' && err !== null) {
    Object.defineProperty(err, CALL, { value: call, configurable: true });
  }
  return err;
};

export class ResilientPool implements ICallable<Endpoint> {
  public readonly callOptionsFactory: CallOptionsFactory | undefined;
  public endpoints: Endpoint[];
  private rr = 0;
  private closed = false;
  private mockImpl: ICallable<unknown> | null = null;
  private lastCause: unknown;
  private readonly hangProbe: HangProbe;
  /** Runs while unary calls are in flight; see `startSweep()`. */
  private sweepTimer?: NodeJS.Timeout;
  /** Caps hedged attempts at 10 % of calls (plus 5 per 10 s), as gRPC's retry throttling. */
  private readonly hedgeBudget = new HedgeBudget();
  private readonly retryPolicy: RetryPolicy;
  /** The user's `faultHandling.global`, around each whole call (all its rounds). */
  private readonly globalPolicy?: IPolicy;
  /** The user's `faultHandling.host(host)` policies, one per host for the pool's life. */
  private readonly hostPolicies = new Map<string, IPolicy>();
  private readonly auth: Authenticator;
  private readonly log: Logger;
  /** Undefined without tracing (no provider, no `@opentelemetry/api`): no per-call cost. */
  private readonly tracer: RpcTracer | undefined;
  private readonly stateEmitter = new Emitter<StateChangeEvent>('onStateChange');
  private readonly rebuildEmitter = new Emitter<RebuildEvent>('onRebuild');
  private readonly breakerEmitter = new Emitter<BreakerEvent>('onBreakerStateChange');
  /** Fires when any endpoint's KV channel changes state. */
  public readonly onStateChange = this.stateEmitter.event;
  /** Fires after any endpoint's channels were rebuilt. */
  public readonly onRebuild = this.rebuildEmitter.event;
  /** Fires when any endpoint's breaker opens, half-opens or closes. */
  public readonly onBreakerStateChange = this.breakerEmitter.event;
  private readonly retryEmitter = new Emitter<RetryEvent>('onRetry');
  private readonly callEmitter = new Emitter<CallEvent>('onCall');
  /** Fires before each retry round. A throwing listener is logged and ignored. */
  public readonly onRetry = this.retryEmitter.event;
  /**
   * Fires when a unary call settles. A throwing listener is logged and ignored: it
   * never turns a call's result into a rejection (or the reverse).
   */
  public readonly onCall = this.callEmitter.event;

  /**
   * @param newEndpoint creates the endpoint of one URL (the pool owns it from then on:
   *   it subscribes to its events, closes it on `close()` or when `sync()` drops it)
   */
  constructor(
    private readonly options: ResolvedOptions,
    private readonly newEndpoint: (url: string) => Endpoint,
  ) {
    this.callOptionsFactory = options.etcd3.defaultCallOptions;
    this.globalPolicy = options.etcd3.faultHandling?.global;
    const defaults = this.callOptionsFactory;
    if (defaults && typeof defaults === 'object') {
      deadlineMs(defaults.deadline, 'defaultCallOptions.deadline'); // throws before any I/O
    }
    this.log = options.logger.child({ component: 'pool' });
    this.tracer = createRpcTracer(options.tracerProvider, loadOtelApi());
    for (const emitter of [
      this.stateEmitter,
      this.rebuildEmitter,
      this.breakerEmitter,
      this.retryEmitter,
      this.callEmitter,
    ]) {
      emitter.setLogger(this.log);
    }
    this.endpoints = options.hosts.map(url => this.adopt(url));
    this.hangProbe = new HangProbe(
      ep => ({
        freshAfterMs: this.forceDelayMs(ep),
        // A member that cannot answer a status within a whole call deadline serves no call.
        patienceMs: Math.max(this.forceDelayMs(ep), this.options.callTimeoutMs),
      }),
      this.log,
      (ep, failure) => {
        this.noteFailure(ep, failure);
        ep.countFailure(failure);
        ep.requestRebuild('hang');
      },
    );
    const authOptions = options.etcd3.auth?.callOptions as
      CallOptions | CallOptionsFactory | undefined;
    this.auth = new Authenticator(options.etcd3.auth, (name, password) => {
      // As etcd3: `auth.callOptions` (an object or a function of the call) apply to the
      // authenticate call, over `defaultCallOptions`.
      const params = { name, password };
      const callOptions = resolveCallOptions(undefined, authOptions, {
        service: 'Auth',
        method: 'authenticate',
        params,
        isStream: false,
      } as any);
      return this.exec<{ token: string }>('Auth', 'authenticate', params, callOptions).then(
        r => r.token,
      );
    });
    this.retryPolicy = retry(
      handleWhen(err => this.shouldRetry(err)),
      {
        maxAttempts: options.retry.maxAttempts,
        backoff: new DeadlineBackoff(
          new ExponentialBackoff({
            initialDelay: options.retry.initialDelayMs,
            maxDelay: options.retry.maxDelayMs,
          }),
          err => callOf(err)?.deadline,
        ),
      },
    );
    this.retryPolicy.onRetry(e => {
      const error = 'error' in e ? e.error : undefined;
      const method = callOf(error)?.method ?? 'unknown';
      this.log.debug(
        { method, attempt: e.attempt, delayMs: e.delay, err: describeError(error) },
        'retrying',
      );
      this.retryEmitter.emit({ method, attempt: e.attempt, delayMs: e.delay, error });
      callOf(error)?.trace.retry(e.attempt, e.delay);
    });
  }

  /**
   * The authenticator, where etcd3 keeps it (`client.pool.authenticator`), with etcd3's
   * `awaitingMetadata`, `getMetadata()` and `invalidateMetadata()`.
   */
  get authenticator(): Authenticator {
    return this.auth;
  }

  async exec<T>(
    service: ServiceName,
    method: string,
    payload: unknown,
    options?: CallOptions,
  ): Promise<T> {
    if (this.mockImpl) {
      return this.mockImpl.exec<T>(service, method, payload, options);
    }
    if (this.closed) {
      throw new ClientClosedError(service);
    }
    const { callOptions, deadlineAt } = this.callOptionsFor(options, {
      service,
      method,
      params: payload,
      isStream: false,
    });
    const start = Date.now();
    const deadline = deadlineAt ?? start + this.options.callTimeoutMs;
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
      trace: traceEtcdCall(this.tracer, service, method),
    };
    try {
      const rounds = () => this.retryPolicy.execute(() => this.round<T>(call), signal);
      const work = this.globalPolicy ? this.globalPolicy.execute(rounds, signal) : rounds();
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

  async withConnection<R>(
    service: ServiceName,
    fn: (args: { resource: Endpoint; client: Client; metadata: Metadata }) => Promise<R> | R,
  ): Promise<R> {
    if (this.mockImpl) {
      return this.mockImpl.withConnection(service, fn as any) as Promise<R>;
    }
    if (this.closed) {
      // Streams that etcd3 re-opens after close() must neither throw (it would log
      // and retry forever) nor connect: they wait, dormant, holding no timer.
      return new Promise<R>(() => undefined);
    }
    if (typeof this.callOptionsFactory === 'function') {
      // etcd3 resolves a stream's options inside `fn`, after we picked a connection:
      // check them first, so a bad deadline is reported (the watch or keepalive gets
      // it as an error) instead of being thrown by grpc-js.
      this.callOptionsFor(undefined, {
        service,
        method: STREAM_METHODS[service] ?? service,
        isStream: true,
      });
    }
    const metadata = await this.auth.metadata();
    if (service === 'Watch' || service === 'Lease') {
      // Like Go's WithRequireLeader: a member cut off from the cluster ends the stream
      // instead of keeping it silently open.
      metadata.set('hasleader', 'true');
    }
    let lastErr: unknown;
    const candidates = this.order().filter(ep => ep.available);
    for (const [i, ep] of candidates.entries()) {
      let client: Client;
      try {
        const failFast = i < candidates.length - 1; // as in round()
        client = await this.onHost(ep, () =>
          ep.breaker.execute(() => ep.waitReady(service, this.options.connectTimeoutMs, failFast)),
        );
      } catch (err) {
        this.noteFailure(ep, err);
        lastErr = err;
        continue;
      }
      const result = await fn({ resource: ep, client, metadata });
      if (
        result &&
        typeof (result as any).cancel === 'function' &&
        typeof (result as any).once === 'function'
      ) {
        ep.track(result as any);
        if (service === 'Watch' && this.auth.enabled) {
          // An expired token must not end watches for good: reconnect with a fresh one.
          guardStaleToken(result as any, () => this.auth.invalidate());
        }
      }
      return result;
    }
    throw new NoEndpointAvailableError(
      `No etcd endpoint available for a ${service} stream`,
      lastErr ?? this.lastCause,
    );
  }

  markFailed(resource: Endpoint, error: Error): void {
    const raw = error as RawGrpcError;
    if (this.closed || raw.code === Status.CANCELLED) {
      return; // we cancelled it ourselves (rebuild or close)
    }
    const err = mark(castGrpcError(error), { sent: true, grpcCode: raw.code });
    if (isTransient(err)) {
      this.noteFailure(resource, err);
    }
    if (isEndpointFailure(err)) {
      resource.countFailure(err);
    }
    if (suggestsBrokenConnection(raw)) {
      resource.requestRebuild('stream unavailable');
    }
  }

  /**
   * The call's options (read once, see `readCallOptions`) merged with
   * `defaultCallOptions` (as etcd3 does), with the deadline checked. Throws
   * `InvalidOptionError` for options that cannot be read or a `signal` that is not an
   * `AbortSignal`, and naming `callOptions.deadline` or
   * `defaultCallOptions.deadline` for a deadline that is not a valid time. `deadlineAt`
   * is the deadline in epoch ms: `undefined` when none is set (the pool's
   * `callTimeoutMs` applies), `Infinity` when the caller asked for none.
   */
  private callOptionsFor(
    options: CallOptions | undefined,
    context: { service: string; method: string; params?: unknown; isStream: boolean },
  ): { callOptions: CallOptions; deadlineAt?: number } {
    const own = readCallOptions(options, 'callOptions'); // read once; hostile shapes throw typed
    const callOptions: CallOptions =
      resolveCallOptions(own, this.callOptionsFactory, context as any) ?? {};
    const field =
      own?.deadline !== undefined ? 'callOptions.deadline' : 'defaultCallOptions.deadline';
    const ms = deadlineMs(callOptions.deadline, field);
    return {
      callOptions,
      deadlineAt: ms ?? (callOptions.deadline === Infinity ? Infinity : undefined),
    };
  }

  /**
   * Refreshes the endpoints from the cluster's member list (auto-sync): members that
   * answer are added, endpoints no longer listed are dropped and closed; the
   * configured hosts are always kept. See `auto-sync.ts`.
   */
  sync(): Promise<{ added: string[]; removed: string[] }> {
    return syncEndpoints(
      this,
      new Set(this.options.hosts),
      url => this.adopt(url),
      this.options.attemptTimeoutMs,
      this.log,
    );
  }

  /** Creates the endpoint of `url` and fans its events in to the pool's. */
  private adopt(url: string): Endpoint {
    const ep = this.newEndpoint(url);
    ep.onStateChange(e => this.stateEmitter.emit({ endpoint: ep.url, ...e }));
    ep.onRebuild(e => this.rebuildEmitter.emit(e));
    ep.onBreakerStateChange(state => this.breakerEmitter.emit({ endpoint: ep.url, state }));
    return ep;
  }

  mock(callable: ICallable<unknown>): void {
    this.mockImpl = callable;
  }

  unmock(): void {
    this.mockImpl = null;
  }

  close(): void {
    this.closed = true;
    this.hangProbe.close();
    clearInterval(this.sweepTimer);
    for (const ep of this.endpoints) {
      ep.close();
    }
  }

  /**
   * Endpoints, best first; rotated so that load spreads over equally good ones. For a
   * write (`forWrite`), an endpoint with calls unanswered for longer than its round
   * trips explain, or that has not answered anything for a while, ranks after one that
   * just did: a write sent to a member that froze silently cannot be taken back, while
   * a read there is hedged and reveals it.
   */
  order(forWrite = false): Endpoint[] {
    const eps = this.endpoints;
    if (eps.length === 1) {
      return eps;
    }
    const now = Date.now();
    return rankEndpoints(
      eps,
      this.rr++,
      now,
      {
        recentFailureMs: this.options.breaker.halfOpenAfterMs,
        freshAnswerMs: this.options.attemptTimeoutMs,
        stalled: ep => ep.oldestCallAgeMs(now) > 2 * this.hedgeDelayMs(ep),
      },
      forWrite,
    );
  }

  /**
   * When a read on `ep` that has not answered is also sent to the next endpoint (if the
   * hedge budget allows): the 95th percentile of `ep`'s recent round trips, at least
   * 20 ms; 100 ms until enough round trips were measured.
   */
  private hedgeDelayMs(ep: Endpoint): number {
    return delayFrom(ep.latency, HEDGE_DELAY);
  }

  /**
   * When a call on `ep` that has not answered makes the pool probe `ep`, and a read is
   * sent to the next endpoint even without hedge budget: `attemptTimeoutMs`, or three
   * of `ep`'s recent 99th-percentile round trips on a slow link. Nothing is cut off at
   * this point: the attempt itself runs until the call's deadline.
   */
  private forceDelayMs(ep: Endpoint): number {
    return Math.max(this.options.attemptTimeoutMs, 3 * (ep.latency.quantile(0.99) ?? 0));
  }

  private async round<T>(call: CallState): Promise<T> {
    const candidates = this.order(!call.safe).filter(ep => ep.available);
    if (call.trace.recording && candidates.length < this.endpoints.length) {
      this.endpoints.filter(ep => !ep.available).forEach(ep => call.trace.breakerRejected(ep.url));
    }
    if (candidates.length === 0) {
      throw withCall(
        new NoEndpointAvailableError(
          `Every etcd endpoint's circuit breaker is open (${this.endpoints.length} endpoints); last error: ${describeError(this.lastCause)}`,
          this.lastCause,
        ),
        call,
      );
    }
    const failures: unknown[] = [];
    const attemptOn = (ep: Endpoint, handle: AttemptHandle): Promise<T> =>
      this.onHost(ep, () => ep.breaker.execute(() => this.attempt<T>(ep, call, handle)));
    try {
      if (call.safe && candidates.length > 1) {
        return await hedgedRace<Endpoint, T>({
          candidates,
          attempt: ep => {
            const handle: AttemptHandle = { cancelled: false };
            return {
              promise: attemptOn(ep, handle).catch(err => {
                failures.push(err);
                throw withCall(err, call);
              }),
              cancel: () => {
                handle.cancelled = true;
                handle.pending?.cancel();
              },
            };
          },
          hedgeDelayMs: ep => this.hedgeDelayMs(ep),
          forceDelayMs: ep => this.forceDelayMs(ep),
          tryHedge: () => this.hedgeBudget.tryWithdraw(),
          worthAnotherTry: err => this.worthAnotherTry(call, err),
          allSlowError: () =>
            mark(
              new GRPCDeadlineExceededError(
                `${call.service}.${call.method}: no answer from any of ${candidates.length} endpoints within their force delay; asking again`,
              ),
              { sent: true, hang: true, grpcCode: Status.DEADLINE_EXCEEDED },
            ),
          onHedge: (from, to, forced) => {
            this.log.debug({ from: from.url, to: to.url, forced }, 'hedging a slow read');
            call.trace.hedge(to.url);
            this.probe(from);
          },
          onWin: (ep, ms) => {
            call.endpoint = ep; // the one that answered
            ep.latency.record(ms);
          },
          onLose: (ep, ms) => ep.latency.recordAtLeast(ms),
        });
      }
      for (;;) {
        let lastErr: unknown;
        let noLeader = 0;
        for (const ep of candidates) {
          try {
            const start = Date.now();
            const result = await attemptOn(ep, { cancelled: false });
            ep.latency.record(Date.now() - start);
            return result;
          } catch (err) {
            lastErr = withCall(err, call);
            failures.push(err);
            noLeader += NO_LEADER.test((err as Error)?.message ?? '') ? 1 : 0;
            if (!this.worthAnotherTry(call, err)) {
              throw err;
            }
          }
        }
        // An election is under way and no member has a leader yet: none applied the
        // write. Ask again shortly, within the deadline, without spending a retry round:
        // the write goes through as soon as a leader exists.
        const waitMs = Math.min(LEADER_POLL_MS, call.deadline - Date.now() - LEADER_POLL_MS);
        if (noLeader === candidates.length && waitMs > 0 && !this.closed && !call.abort.aborted) {
          await new Promise(resolve => setTimeout(resolve, waitMs));
          failures.length = 0;
          continue;
        }
        throw lastErr;
      }
    } catch (err) {
      if (
        failures.length === candidates.length &&
        failures.every(f => f instanceof NotConnectedError && f.connectFailed)
      ) {
        // Every endpoint refused its connection (or failed its TLS handshake): definite,
        // and known at once. Fail now rather than retry against the same refusals.
        throw withCall(
          new NoEndpointAvailableError(
            `${call.service}.${call.method}: no etcd endpoint accepted a connection (${candidates.length} tried: refused, or a failed TLS handshake); last error: ${describeError(err)}`,
            err,
          ),
          call,
        );
      }
      throw withCall(err, call);
    }
  }

  /**
   * One attempt on `ep`. It is not cut short: it runs until the call's deadline (a slow
   * link is not a dead one); hedging and the hang probe deal with members that stop
   * answering. `handle` lets a hedged round cancel it.
   */
  private attempt<T>(ep: Endpoint, call: CallState, handle: AttemptHandle): Promise<T> {
    call.endpoint = ep;
    const now = Date.now();
    if (now >= call.deadline) {
      return Promise.reject(
        new DeadlineExceededError(call.method, call.timeoutMs, false, this.lastCause),
      );
    }
    const attemptEnd = call.deadline;
    const connectBy = call.safe
      ? attemptEnd
      : Math.min(call.deadline, now + this.options.connectTimeoutMs);
    // A refused connection is definite: every candidate gives way at once (failFast).
    return ep.waitReady(call.service, connectBy - now, true).then(
      async client => {
        const metadata =
          call.method === 'authenticate' ? new Metadata() : await this.auth.metadata(call.deadline);
        if (!call.safe) {
          // etcd rejects a request carrying this while its member has no leader, before
          // doing anything with it ("etcdserver: no leader"): such a write was not applied.
          metadata.set('hasleader', 'true');
        }
        const generation = ep.generation;
        call.abort.check();
        if (handle.cancelled) {
          throw new NotConnectedError(ep.url, 'hedged attempt no longer needed');
        }
        call.trace.attempt(ep.url);
        this.startSweep();
        return new Promise<T>((resolve, reject) => {
          const pending = (client as any)[call.method](
            call.payload,
            metadata,
            { ...call.callOptions, deadline: attemptEnd },
            (err: RawGrpcError | null, res: T) => {
              ep.untrackCall(pending);
              untrack();
              if (err) {
                // Read now: a stream started on a connection means the request was sent,
                // even when a trailers-only answer leaves the status without metadata.
                const started = callStartedStream(pending);
                const rebuilt = generation !== ep.generation;
                reject(this.attemptError(ep, call, err, attemptEnd, rebuilt, started));
              } else {
                ep.lastAnswerAt = Date.now();
                resolve(res);
              }
            },
          );
          handle.pending = pending;
          ep.trackCall(pending, !call.safe);
          const untrack = call.abort.track(pending); // cancelled if the signal aborts
        });
      },
      err => {
        this.noteFailure(ep, err);
        throw err;
      },
    );
  }

  /**
   * Probes every endpoint with a call unanswered for longer than its force delay, while
   * any call is in flight (a call alone on one endpoint has no hedge to reveal a hang).
   */
  private startSweep(): void {
    if (this.sweepTimer || this.closed) {
      return;
    }
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      let busy = false;
      for (const ep of this.endpoints) {
        const age = ep.oldestCallAgeMs(now);
        busy ||= age > 0;
        if (age > this.forceDelayMs(ep)) {
          this.probe(ep);
        }
      }
      if (!busy) {
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    }, SWEEP_MS);
    this.sweepTimer.unref();
  }

  private attemptError(
    ep: Endpoint,
    call: CallState,
    raw: RawGrpcError,
    attemptEnd: number,
    rebuiltSince: boolean,
    streamStarted = false,
  ): Error {
    const hang = raw.code === Status.DEADLINE_EXCEEDED && attemptEnd < call.deadline;
    const err = castGrpcError(raw);
    call.trace.attemptFailed(ep.url, err, raw.code);
    if (call.abort.aborted && raw.code === Status.CANCELLED) {
      // We cancelled it for the caller's signal: not the endpoint's fault (marked
      // CANCELLED, the breaker around the attempt does not count it).
      return mark(err, { sent: true, grpcCode: raw.code });
    }
    // An invalid (expired) token is rejected before anything is applied: refresh and resend.
    const authRejected = err instanceof EtcdInvalidAuthTokenError;
    if (authRejected) {
      this.auth.invalidate();
    }
    // We cancelled it ourselves when its channels were rebuilt: a read is worth resending.
    const rebuilt = rebuiltSince && raw.code === Status.CANCELLED;
    // With `hasleader` (set on writes), etcd answers "no leader" before doing anything.
    const noLeader = !call.safe && NO_LEADER.test(raw.details ?? '');
    const sent = !rawNeverSent(raw, streamStarted) && !authRejected && !noLeader;
    const marks = { sent, hang, grpcCode: raw.code, rebuilt, stale: rebuiltSince };
    mark(err, marks);
    if (isTransient(err) && !rebuiltSince) {
      // Seen in health() and deprioritised for a while; only isEndpointFailure() errors
      // also count against the breaker (the breaker.execute around the attempt does that).
      this.noteFailure(ep, err);
    }
    if (rebuiltSince) {
      // A call of an earlier generation (a sent write left running by a rebuild): its
      // failure says nothing about the connection the endpoint has now.
    } else if (suggestsBrokenConnection(raw)) {
      ep.requestRebuild('call unavailable');
    } else if (raw.code === Status.DEADLINE_EXCEEDED) {
      this.probe(ep);
    }
    return call.safe || !sent ? err : this.writeOutcome(call, err, raw.code, marks);
  }

  /**
   * A write that was sent and failed: if its failure does not tell whether etcd applied
   * it (the stream was cancelled or reset mid-flight, or UNAVAILABLE was answered), it
   * becomes one documented error, {@link WriteOutcomeUnknownError}; a deadline that
   * passed after it was sent stays etcd3's `GRPCDeadlineExceededError`, flagged
   * `mayHaveBeenApplied`. Other answers (etcd refusing it: INVALID_ARGUMENT,
   * FAILED_PRECONDITION...) are kept as they are.
   */
  private writeOutcome(
    call: CallState,
    err: Error,
    code: number | undefined,
    marks: object,
  ): Error {
    if (code === Status.UNAVAILABLE || code === Status.CANCELLED) {
      return mark(
        new WriteOutcomeUnknownError(`${call.service}.${call.method}`, err),
        marks as any,
      );
    }
    if (code === Status.DEADLINE_EXCEEDED) {
      Object.defineProperty(err, 'mayHaveBeenApplied', { value: true, enumerable: true });
    }
    return err;
  }

  /** After a hang: is the endpoint's connection alive at all? See `hang-probe.ts`. */
  private probe(ep: Endpoint): void {
    if (!this.closed) {
      this.hangProbe.run(ep);
    }
  }

  /**
   * Runs one attempt on `ep` inside the user's `faultHandling.host` policy for that
   * host (created on first use with the host as configured, e.g.
   * `http://10.0.0.1:2379`, and kept: a breaker must see every call to its host).
   * A `BrokenCircuitError` from it means "not sent": the call moves on to the next
   * endpoint.
   */
  private onHost<R>(ep: Endpoint, fn: () => Promise<R>): Promise<R> {
    const factory = this.options.etcd3.faultHandling?.host;
    if (!factory) {
      return fn();
    }
    let policy = this.hostPolicies.get(ep.url);
    if (!policy) {
      policy = factory(ep.url);
      this.hostPolicies.set(ep.url, policy);
    }
    return policy.execute(fn);
  }

  /** Remembers a failure: on the endpoint (health, ordering) and as the pool's last cause. */
  private noteFailure(ep: Endpoint, err: unknown): void {
    ep.recordFailure(err);
    this.lastCause = err;
  }

  /** Within a round: may the call go on to the next endpoint after `err`? */
  private worthAnotherTry(call: CallState, err: unknown): boolean {
    if (this.closed || call.abort.aborted || Date.now() >= call.deadline) {
      return false;
    }
    return neverSent(err) || (call.safe && isTransient(err));
  }

  /** Between rounds (the retry policy's filter). */
  private shouldRetry(err: unknown): boolean {
    const call = callOf(err);
    if (!call || err instanceof NoEndpointAvailableError) {
      return false; // every breaker is open: fail fast
    }
    return this.worthAnotherTry(call, err);
  }

  private finalError(call: CallState, err: unknown): unknown {
    if (this.closed && !(err instanceof ClientClosedError)) {
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
    if (this.callEmitter.size > 0) {
      this.callEmitter.emit({
        service: call.service,
        method: call.method,
        endpoint: call.endpoint?.url,
        durationMs: Date.now() - start,
        code,
      });
    }
  }
}

/** The method etcd3 opens a stream of each service with (for `defaultCallOptions` functions). */
const STREAM_METHODS: Partial<Record<ServiceName, string>> = {
  Watch: 'watch',
  Lease: 'leaseKeepAlive',
  Maintenance: 'snapshot',
};

function codeOf(err: unknown): string {
  const grpcCode = marksOf(err)?.grpcCode;
  if (grpcCode !== undefined) {
    return Status[grpcCode] ?? String(grpcCode);
  }
  return (err as { code?: unknown })?.code && typeof (err as any).code === 'string'
    ? (err as any).code
    : 'UNKNOWN';
}
