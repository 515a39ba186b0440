/**
 * The connection pool behind our `Etcd3`: it takes the place of etcd3's own pool
 * (same `ICallable` interface), so every etcd3 feature (KV, watch, lease, lock,
 * election, STM, auth, maintenance) runs through it unchanged.
 *
 * The pool owns the endpoints (one per member, auto-synced), their order, the user's
 * per-host policies, the hang probe, streams (`withConnection`, `markFailed`) and the
 * events. Unary calls (`exec`) run in the call loop, `unary-calls.ts`: rounds over the
 * endpoints, best first, spaced by jittered exponential backoff and bounded by the
 * call's deadline; a write is sent only on a READY channel and tried elsewhere only if
 * it provably never left this process.
 */
import { status as Status, type CallOptions, type Client, type Metadata } from '@grpc/grpc-js';
import type { IPolicy } from 'cockatiel';
import { ClientClosedError, castGrpcError, type ICallable } from 'etcd3';
import { resolveCallOptions, type CallOptionsFactory } from '../internals/etcd3';
import { NoEndpointAvailableError } from '../errors';
import { Emitter } from '../events';
import { deadlineMs } from '../policy/deadline';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import { Authenticator } from './authenticator';
import type { CallPool } from './call-context';
import type { CallEvent, RetryEvent } from './call-events';
import {
  isEndpointFailure,
  isTransient,
  mark,
  suggestsBrokenConnection,
  type RawGrpcError,
} from './classify';
import { syncEndpoints } from './auto-sync';
import { HangProbe } from './hang-probe';
import { delayFrom, type DelayPolicy } from './latency';
import { rankEndpoints } from './ranking';
import { callOptionsFor } from './resolve-call-options';
import { UnaryCalls } from './unary-calls';
import { type BreakerState, type Endpoint, type RebuildEvent, type ServiceName } from './endpoint';
import type { ChannelState } from '../channel/state';
import { guardStaleToken } from './stale-token-guard';
import { createRpcTracer } from '../tracing/create-tracer';
import { loadOtelApi } from '../tracing/otel';

export type { CallEvent, RetryEvent } from './call-events';

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

/** Hedge delay: p95 of recent round trips, at least 20 ms; 100 ms before enough samples. */
const HEDGE_DELAY: DelayPolicy = { quantile: 0.95, floorMs: 20, fallbackMs: 100 };

export class ResilientPool implements ICallable<Endpoint> {
  public readonly callOptionsFactory: CallOptionsFactory | undefined;
  public endpoints: Endpoint[];
  private rr = 0;
  private closed = false;
  private mockImpl: ICallable<unknown> | null = null;
  private lastCause: unknown;
  private readonly hangProbe: HangProbe;
  /** The call loop (`exec`). */
  private readonly calls: UnaryCalls;
  /** The user's `faultHandling.host(host)` policies, one per host for the pool's life. */
  private readonly hostPolicies = new Map<string, IPolicy>();
  private readonly auth: Authenticator;
  private readonly log: Logger;
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
    const defaults = this.callOptionsFactory;
    if (defaults && typeof defaults === 'object') {
      deadlineMs(defaults.deadline, 'defaultCallOptions.deadline'); // throws before any I/O
    }
    this.log = options.logger.child({ component: 'pool' });
    const tracer = createRpcTracer(options.tracerProvider, loadOtelApi()); // throws before any I/O
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
    this.calls = new UnaryCalls(this.callPool(), {
      defaults: this.callOptionsFactory,
      globalPolicy: options.etcd3.faultHandling?.global,
      tracer,
      retries: this.retryEmitter,
      calls: this.callEmitter,
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
    return this.calls.exec<T>(service, method, payload, options);
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
      callOptionsFor(
        undefined,
        this.callOptionsFactory,
        service,
        STREAM_METHODS[service] ?? service,
        undefined,
        true,
      );
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
    this.calls.close();
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
        stalled: ep => this.stalled(ep, now),
      },
      forWrite,
    );
  }

  /** The pool as the call loop sees it (`call-context.ts`). */
  private callPool(): CallPool {
    const pool = this;
    return {
      options: this.options,
      get endpoints() {
        return pool.endpoints;
      },
      auth: this.auth,
      log: this.log,
      get closed() {
        return pool.closed;
      },
      get lastCause() {
        return pool.lastCause;
      },
      order: forWrite => this.order(forWrite),
      onHost: (ep, fn) => this.onHost(ep, fn),
      noteFailure: (ep, err) => this.noteFailure(ep, err),
      probe: ep => this.probe(ep),
      hedgeDelayMs: ep => this.hedgeDelayMs(ep),
      forceDelayMs: ep => this.forceDelayMs(ep),
      stalled: ep => this.stalled(ep),
    };
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
   * Whether a call in flight on `ep` has gone unanswered for more than twice its hedge
   * delay: a member that froze, before any probe told.
   */
  private stalled(ep: Endpoint, now = Date.now()): boolean {
    return ep.oldestCallAgeMs(now) > 2 * this.hedgeDelayMs(ep);
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
}

/** The method etcd3 opens a stream of each service with (for `defaultCallOptions` functions). */
const STREAM_METHODS: Partial<Record<ServiceName, string>> = {
  Watch: 'watch',
  Lease: 'leaseKeepAlive',
  Maintenance: 'snapshot',
};
