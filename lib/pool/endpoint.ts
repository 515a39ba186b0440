/**
 * One etcd endpoint: its gRPC channels (one generation at a time, followed and rebuilt
 * by the channel core, `channel/channel-core.ts`), its circuit breaker
 * (`endpoint-breaker.ts`), the calls and streams in flight on it (`call-tracker.ts`),
 * readiness waits (`wait-ready.ts`), its recent round trips (`latency.ts`), and what
 * its channels' state changes do, with the connect timing (`channel-hooks.ts`).
 *
 * A rebuild closes every channel of the current generation, cancels the streams
 * opened on them (so a watch stuck on a half-open connection errors and resumes
 * elsewhere) and dials afresh. Each generation gets its own grpc-js subchannel (the
 * generation is part of the channel options, which key grpc-js's subchannel pool),
 * so a rebuild never reuses the old TCP connection.
 */
import type { ChannelCredentials, ChannelInterface, ChannelOptions, Client } from '@grpc/grpc-js';
import type { CircuitBreakerPolicy } from 'cockatiel';
import { ChannelCore, mapEvent } from '../channel/channel-core';
import type { ChannelState } from '../channel/state';
import type { ChannelWatch } from '../channel/state-watcher';
import type { Event } from '../events';
import { Host } from '../internals/etcd3';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import { describeError } from '../policy/describe-error';
import { CallTracker } from './call-tracker';
import { ChannelHooks } from './channel-hooks';
import { EndpointBreaker } from './endpoint-breaker';
import type {
  BreakerState,
  Cancellable,
  EndpointHealth,
  RebuildEvent,
  ServiceName,
} from './endpoint-types';
import { freshConnection, freshHandshake, type FreshAnswer } from './fresh-probe';
import { LatencyTracker } from './latency';
import { waitReady, type ReadyTarget } from './wait-ready';

export type { BreakerState, EndpointHealth, RebuildEvent, ServiceName } from './endpoint-types';
export { NotConnectedError } from './not-connected';

/** Makes a gRPC channel (grpc-js's `channelFactoryOverride`); tests pass fakes. */
export type ChannelFactory = (
  target: string,
  credentials: ChannelCredentials,
  options: ChannelOptions,
) => ChannelInterface;

const GENERATION_OPTION = 'etcd3-resilient.generation';

export class Endpoint implements ReadyTarget {
  /** Host and port, without the scheme. */
  public readonly address: string;
  public lastError?: string;
  public lastErrorAt?: number;
  /** `Date.now()` of the last failure that counted against this endpoint. */
  public lastFailureAt = 0;
  /** Why the last connection attempt failed (TLS, refused...); cleared when a channel is READY. */
  public connectError?: string;
  /**
   * A call to this endpoint ran out of time and it has not answered since: it may be
   * frozen or cut off. Cleared by an answered probe or a fresh connection.
   */
  public suspect = false;
  /** `Date.now()` of the last successful unary call or probe on this endpoint. */
  public lastAnswerAt = 0;
  /**
   * Recent round trips on this endpoint: answered unary calls, status probes and HTTP/2
   * handshakes. Hedge delays, probe patience and the connect limit are read from it, so
   * they follow the link as it is now (a link that turns slow stretches them).
   */
  public readonly latency = new LatencyTracker();
  /** The breaker's cockatiel policy; calls run through `breaker.execute`. */
  public readonly breaker: CircuitBreakerPolicy;
  private readonly breakerRules: EndpointBreaker;
  private readonly core: ChannelCore;
  private readonly inFlight = new CallTracker();
  /** State changes, unhealthy channels and the connect timing they drive. */
  private readonly hooks: ChannelHooks;
  private host: Host;
  /** `Date.now()` of the last rebuild (0: none). */
  private rebuiltAt = 0;
  /** Watches of the current generation's channels, with the client each belongs to. */
  private readonly watches = new Map<ServiceName, ChannelWatch & { client: Client }>();
  private closed = false;
  private readonly log: Logger;

  /** Fires after each rebuild. A throwing listener is logged and ignored. */
  public readonly onRebuild: Event<RebuildEvent>;
  /** Fires on every state change of the KV channel. A throwing listener is logged and ignored. */
  public readonly onStateChange: Event<{ from: ChannelState; to: ChannelState }>;
  /**
   * Fires when the breaker opens, half-opens or closes (after it did). A throwing
   * listener is logged and ignored: it never changes the outcome of the call that
   * moved the breaker.
   */
  public readonly onBreakerStateChange: Event<BreakerState>;

  /**
   * @param channelFactory makes every channel of the endpoint instead of grpc-js
   *   (tests pass fakes). Defaults to grpc-js channels.
   */
  constructor(
    public readonly url: string,
    private readonly credentials: ChannelCredentials,
    private readonly channelOptions: ChannelOptions,
    options: ResolvedOptions,
    private readonly channelFactory?: ChannelFactory,
  ) {
    this.address = url.replace(/^https?:\/\//, '');
    this.log = options.logger.child({ component: 'endpoint', endpoint: url });
    this.core = new ChannelCore({
      rebuild: options.rebuild,
      log: this.log,
      replace: () => this.replace(),
      // A stuck handshake is overtaken when a fresh connection gets through (see
      // channel/connect-overtake.ts): the stretched connect limit is for slow links,
      // not for an attempt started into a path that has healed since.
      probe: timeoutMs => this.freshHandshake(timeoutMs),
    });
    this.breakerRules = new EndpointBreaker(
      options.breaker,
      this.log,
      options.logger.child({ component: 'breaker', endpoint: url }),
      () => this.generation,
      () => this.lastError,
    );
    this.breaker = this.breakerRules.policy;
    this.hooks = new ChannelHooks(this, options.connectTimeoutMs, {
      connectionReady: generation => this.breakerRules.connectionReady(generation),
      dial: () => this.dial(),
    });
    this.onRebuild = mapEvent(this.core.onRebuild, e => ({ endpoint: url, ...e }));
    this.onStateChange = this.core.onStateChange;
    this.onBreakerStateChange = this.breakerRules.onStateChange;
    this.host = this.newHost();
    this.dial();
  }

  /** Channel generation; grows by one per rebuild. */
  get generation(): number {
    return this.core.generation;
  }

  /** Rebuilds so far. */
  get rebuilds(): number {
    return this.core.rebuilds;
  }

  /** True after {@link close}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the last connection attempt failed, else the last failure. */
  get failureReason(): string | undefined {
    return this.connectError ?? this.lastError;
  }

  /** The gRPC client of `service` in the current generation, created on first use. */
  client(service: ServiceName): Client {
    const client = this.host.getServiceClient(service);
    if (this.watches.get(service)?.client !== client) {
      this.watches.get(service)?.stop();
      this.watch(service, client);
    }
    return client;
  }

  /**
   * True if the breaker lets a call through: closed, half-open, or open for longer
   * than `halfOpenAfterMs` (cockatiel moves to half-open only when a call arrives), or
   * released early by a fresh connection (see `endpoint-breaker.ts`).
   */
  get available(): boolean {
    return this.breakerRules.available;
  }

  get breakerState(): BreakerState {
    return this.breakerRules.state;
  }

  /** State of the KV channel, or IDLE before the first call. */
  get channelState(): ChannelState {
    return this.core.primary?.state ?? 'IDLE';
  }

  /** True when the KV channel is connected. */
  get ready(): boolean {
    return this.core.primary?.state === 'READY';
  }

  /**
   * Resolves once `service`'s channel is READY, within `timeoutMs`; kicks it to
   * connect if IDLE. Follows rebuilds. Rejects with `NotConnectedError`. With
   * `failFast`, also rejects as soon as the channel is in TRANSIENT_FAILURE (see
   * `wait-ready.ts`).
   */
  waitReady(service: ServiceName, timeoutMs: number, failFast = false): Promise<Client> {
    return waitReady(this, service, timeoutMs, failFast);
  }

  /** Tracks a stream so that a rebuild cancels it. */
  track(stream: Cancellable & { once(event: string, fn: () => void): unknown }): void {
    this.inFlight.track(stream);
  }

  /** Counts a failure against the breaker for a failure seen outside a call it ran. */
  countFailure(err: unknown): void {
    this.breaker
      .execute(() => {
        throw err;
      })
      .catch(() => undefined);
  }

  /**
   * Tracks a unary call until `untrackCall`, so that a rebuild or close cancels it.
   * With `keepOnRebuild` (a write that was sent) a rebuild leaves it running on the old
   * connection until its own deadline; `close()` still cancels it.
   */
  trackCall(call: Cancellable, keepOnRebuild = false): void {
    this.inFlight.trackCall(call, keepOnRebuild);
  }

  untrackCall(call: Cancellable): void {
    this.inFlight.untrackCall(call);
  }

  /**
   * How long the oldest unary call in flight here has gone unanswered, in ms (0: none).
   * A member that froze silently shows here first: its calls pile up unanswered.
   */
  oldestCallAgeMs(now = Date.now()): number {
    return this.inFlight.oldestCallAgeMs(now);
  }

  /**
   * Whether a fresh, throwaway connection to this endpoint answers a status call within
   * `timeoutMs`, is refused, or stays silent (see `fresh-probe.ts`). Never rejects.
   */
  freshConnection(timeoutMs: number): Promise<FreshAnswer> {
    return this.closed
      ? Promise.resolve('silent')
      : freshConnection(this.address, this.credentials, this.channelOptions, timeoutMs);
  }

  /**
   * Whether a fresh connection to this endpoint completes its handshake within
   * `timeoutMs`, is refused, or stays silent; its socket is destroyed either way (see
   * `fresh-probe.ts`). Never rejects.
   */
  freshHandshake(timeoutMs: number): Promise<FreshAnswer> {
    return this.closed
      ? Promise.resolve('silent')
      : freshHandshake(this.address, this.credentials, this.channelOptions, timeoutMs);
  }

  /** Records a failure seen on this endpoint (already counted by the breaker if it ran under it). */
  recordFailure(err: unknown): void {
    this.lastError = describeError(err);
    this.lastErrorAt = this.lastFailureAt = Date.now();
  }

  /** Remembers why a connection attempt of `generation` failed; false once stale or closed. */
  noteConnectError(reason: string | undefined, generation: number): boolean {
    if (!reason || generation !== this.generation || this.closed) {
      return false;
    }
    this.connectError = reason;
    return true;
  }

  /**
   * Asks for a rebuild. Rebuilds of one endpoint are spaced by exponential backoff
   * with jitter, so a flapping endpoint cannot cause a reconnect storm; requests
   * made while one is pending are merged, and one still pending when the channel
   * comes back READY is dropped.
   */
  requestRebuild(reason: string): void {
    this.core.requestRebuild(reason);
  }

  health(): EndpointHealth {
    return {
      endpoint: this.url,
      channelState: this.channelState,
      breakerState: this.breakerState,
      since: this.core.primary?.since ?? this.rebuiltAt,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      generation: this.generation,
      rebuilds: this.rebuilds,
    };
  }

  /** Closes channels, calls and streams; idempotent. */
  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.core.stop();
    this.watches.clear();
    this.inFlight.cancelAll();
    this.host.close();
  }

  /**
   * Connects the KV channel now instead of at the next call: an endpoint that is not
   * READY is tried last, so without this a rebuilt or idle endpoint would never be
   * used again while others work (grpc-js reconnects only while a call is pending,
   * grpc-node#2218).
   */
  private dial(): void {
    if (!this.closed) {
      this.client('KV').getChannel().getConnectivityState(true);
    }
  }

  /** The core's rebuild: the generation is already counted. */
  private replace(): boolean {
    if (this.closed) {
      return false;
    }
    // Swap first: callbacks that fire while the old channels close must see the new host.
    const old = this.host;
    this.host = this.newHost();
    this.watches.clear();
    this.inFlight.cancelForRebuild();
    old.resetAllServices();
    this.dial();
    this.rebuiltAt = Date.now();
    return true;
  }

  private newHost(): Host {
    return new Host(this.address, this.credentials, {
      ...this.channelOptions,
      [GENERATION_OPTION]: this.generation,
      // grpc-js copies a client's options before it reads this, so every service client
      // of the host gets it.
      ...(this.channelFactory && { channelFactoryOverride: this.channelFactory }),
    });
  }

  private watch(service: ServiceName, client: Client): void {
    const generation = this.generation;
    const watch = this.core.follow(client.getChannel(), {
      connectTimeoutMs: this.hooks.connectLimitMs(),
      overtakeEveryMs: this.hooks.overtakeEveryMs(),
      primary: service === 'KV',
      label: service,
      onStateChange: (from, to) => this.hooks.stateChanged(service, client, generation, from, to),
      onUnhealthy: (reason, state) => this.hooks.unhealthy(reason, state),
    });
    this.watches.set(service, Object.assign(watch, { client }));
  }
}
