/**
 * One etcd endpoint: its gRPC channels (one generation at a time), its circuit
 * breaker, the watchers of its channel states, and its rebuilds.
 *
 * A rebuild closes every channel of the current generation, cancels the streams
 * opened on them (so a watch stuck on a half-open connection errors and resumes
 * elsewhere) and dials afresh. Each generation gets its own grpc-js subchannel (the
 * generation is part of the channel options, which key grpc-js's subchannel pool),
 * so a rebuild never reuses the old TCP connection.
 */
import {
  connectivityState,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
} from '@grpc/grpc-js';
import {
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  type IBackoff,
} from 'cockatiel';
import { Host } from '../internals/etcd3';
import type { Services } from '../internals/etcd3';
import { watchChannel, type ChannelWatch } from '../channel/state-watcher';
import { ChannelState, stateName } from '../channel/state';
import { Emitter } from '../events';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import { describeError } from '../policy/describe-error';
import { isEndpointFailure, neverSent } from './classify';
import { connectFailure } from './connect-failure';
import { freshConnection, type FreshAnswer } from './fresh-probe';
import { LatencyTracker } from './latency';

export type ServiceName = keyof typeof Services;

/** A breaker's state, by name. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Health of one endpoint, as reported by `client.health()`. */
export interface EndpointHealth {
  /** The endpoint as configured, e.g. `http://127.0.0.1:2379`. */
  readonly endpoint: string;
  /** State of its KV channel (the one unary calls use). */
  readonly channelState: ChannelState;
  /** State of its circuit breaker. */
  readonly breakerState: BreakerState;
  /** `Date.now()` when the channel entered its current state. */
  readonly since: number;
  /** Message of the last failure (secrets redacted), if any. */
  readonly lastError?: string;
  /** `Date.now()` of the last failure, if any. */
  readonly lastErrorAt?: number;
  /** Channel generation; grows by one per rebuild. */
  readonly generation: number;
  /** Rebuilds so far. */
  readonly rebuilds: number;
}

/** Emitted when an endpoint's channels are rebuilt. */
export interface RebuildEvent {
  readonly endpoint: string;
  readonly reason: string;
  readonly generation: number;
}

/** Something opened on a channel that must end when the channel is rebuilt. */
interface Cancellable {
  cancel(): void;
}

const GENERATION_OPTION = 'etcd3-resilient.generation';
const BREAKER_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

export class Endpoint {
  /** Host and port, without the scheme. */
  public readonly address: string;
  public readonly breaker: CircuitBreakerPolicy;
  public generation = 0;
  public rebuilds = 0;
  public lastError?: string;
  public lastErrorAt?: number;
  /** `Date.now()` of the last failure that counted against this endpoint. */
  public lastFailureAt = 0;
  /** Why the last connection attempt failed (TLS, refused...); cleared when a channel is READY. */
  private connectError?: string;
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
  private connectingAt = 0;
  /** Connect timeouts in a row since the last READY; each doubles the next limit (at most 4x). */
  private connectTimeouts = 0;

  private host: Host;
  /** `Date.now()` when the breaker last opened. */
  private openedAt = 0;
  /** The breaker opened because the endpoint could not be reached (not because calls failed). */
  private openedForConnectivity = false;
  /** Watches of the current generation's channels, with the client each belongs to. */
  private readonly watches = new Map<ServiceName, ChannelWatch & { client: Client }>();
  private readonly streams = new Set<Cancellable>();
  /** Unary calls in flight on the current generation, with `Date.now()` of their start; cancelled with it. */
  private calls = new Map<Cancellable, number>();
  /** Of `calls`, those a rebuild leaves running (sent writes); see `trackCall`. */
  private readonly keptOnRebuild = new Set<Cancellable>();
  private readonly rebuildBackoffFactory: ExponentialBackoff<unknown>;
  private rebuildBackoff?: IBackoff<unknown>;
  private lastRebuildAt = 0;
  private rebuildTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly log: Logger;
  private readonly rebuildEmitter = new Emitter<RebuildEvent>('onRebuild');
  private readonly stateEmitter = new Emitter<{ from: ChannelState; to: ChannelState }>(
    'onStateChange',
  );
  private readonly breakerEmitter = new Emitter<BreakerState>('onBreakerStateChange');

  /** Fires after each rebuild. A throwing listener is logged and ignored. */
  public readonly onRebuild = this.rebuildEmitter.event;
  /** Fires on every state change of the KV channel. A throwing listener is logged and ignored. */
  public readonly onStateChange = this.stateEmitter.event;
  /**
   * Fires when the breaker opens, half-opens or closes (after it did). A throwing
   * listener is logged and ignored: it never changes the outcome of the call that
   * moved the breaker.
   */
  public readonly onBreakerStateChange = this.breakerEmitter.event;

  constructor(
    public readonly url: string,
    private readonly credentials: ChannelCredentials,
    private readonly channelOptions: ChannelOptions,
    private readonly options: ResolvedOptions,
  ) {
    this.address = url.replace(/^https?:\/\//, '');
    this.log = options.logger.child({ component: 'endpoint', endpoint: url });
    for (const emitter of [this.rebuildEmitter, this.stateEmitter, this.breakerEmitter]) {
      emitter.setLogger(this.log);
    }
    this.breaker = circuitBreaker(handleWhen(isEndpointFailure), {
      halfOpenAfter: options.breaker.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(options.breaker.consecutiveFailures),
    });
    this.rebuildBackoffFactory = new ExponentialBackoff({
      initialDelay: options.rebuild.initialBackoffMs,
      maxDelay: options.rebuild.maxBackoffMs,
    });
    const breakerLog = options.logger.child({ component: 'breaker', endpoint: url });
    this.breaker.onBreak(reason => {
      this.openedAt = Date.now();
      this.openedForConnectivity = 'error' in reason && neverSent(reason.error);
      breakerLog.warn({ err: this.lastError }, 'circuit opened');
      this.breakerEmitter.emit('open');
    });
    this.breaker.onHalfOpen(() => this.breakerEmitter.emit('half-open'));
    this.breaker.onReset(() => {
      breakerLog.info('circuit closed');
      this.breakerEmitter.emit('closed');
    });
    this.host = this.newHost();
    this.dial();
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
   * than `halfOpenAfterMs` (cockatiel moves to half-open only when a call arrives).
   */
  get available(): boolean {
    const s = this.breaker.state;
    return (
      s === CircuitState.Closed ||
      s === CircuitState.HalfOpen ||
      (s === CircuitState.Open &&
        Date.now() - this.openedAt >= this.options.breaker.halfOpenAfterMs)
    );
  }

  get breakerState(): BreakerState {
    return BREAKER_NAMES[this.breaker.state];
  }

  /** State of the KV channel, or IDLE before the first call. */
  get channelState(): ChannelState {
    return this.watches.get('KV')?.state ?? 'IDLE';
  }

  /** True when the KV channel is connected. */
  get ready(): boolean {
    return this.watches.get('KV')?.state === 'READY';
  }

  /**
   * Resolves once `service`'s channel is READY, within `timeoutMs`; kicks it to
   * connect if IDLE. Follows rebuilds. Rejects with `NotConnectedError`. With
   * `failFast`, also rejects as soon as the channel is in TRANSIENT_FAILURE (its last
   * connection attempt failed, e.g. refused): for a caller that has other endpoints
   * to try, waiting out the reconnect backoff here would only delay the call.
   */
  waitReady(service: ServiceName, timeoutMs: number, failFast = false): Promise<Client> {
    const first = this.client(service);
    if (first.getChannel().getConnectivityState(true) === connectivityState.READY) {
      return Promise.resolve(first);
    }
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed) {
          return reject(
            new NotConnectedError(this.url, 'endpoint closed', this.connectError ?? this.lastError),
          );
        }
        const client = this.client(service);
        const channel = client.getChannel();
        const state = channel.getConnectivityState(true);
        if (state === connectivityState.READY) {
          return resolve(client);
        }
        if (Date.now() >= deadline) {
          return reject(
            new NotConnectedError(
              this.url,
              `channel ${stateName(state)} after ${timeoutMs} ms`,
              this.connectError ?? this.lastError,
            ),
          );
        }
        if (failFast && state === connectivityState.TRANSIENT_FAILURE) {
          const fail = (reason: string | undefined) =>
            reject(
              new NotConnectedError(
                this.url,
                'connection failed (TRANSIENT_FAILURE)',
                reason ?? this.lastError,
                true,
              ),
            );
          if (this.connectError) {
            return fail(this.connectError);
          }
          // The state watcher learns the reason asynchronously; a caller failing fast
          // must still say why (a TLS failure is not a refusal). In TRANSIENT_FAILURE
          // grpc-js answers this at once, without touching the network.
          const generation = this.generation;
          void connectFailure(client).then(reason => {
            if (reason && generation === this.generation && !this.closed) {
              this.connectError = reason;
            }
            fail(reason);
          });
          return;
        }
        try {
          channel.watchConnectivityState(state, deadline, () => check());
        } catch {
          // Closed under us by a rebuild: look again at the new generation.
          setImmediate(check);
        }
      };
      check();
    });
  }

  /** Tracks a stream so that a rebuild cancels it. */
  track(stream: Cancellable & { once(event: string, fn: () => void): unknown }): void {
    this.streams.add(stream);
    const forget = () => this.streams.delete(stream);
    stream.once('close', forget);
    stream.once('error', forget);
    stream.once('end', forget);
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
   * connection until its own deadline: cancelling it would not take it back, only lose
   * its answer if the member answers after all. `close()` still cancels it.
   */
  trackCall(call: Cancellable, keepOnRebuild = false): void {
    this.calls.set(call, Date.now());
    if (keepOnRebuild) {
      this.keptOnRebuild.add(call);
    }
  }

  /**
   * How long the oldest unary call in flight here has gone unanswered, in ms (0: none).
   * A member that froze silently shows here first: its calls pile up unanswered.
   */
  oldestCallAgeMs(now = Date.now()): number {
    for (const startedAt of this.calls.values()) {
      return now - startedAt; // a Map iterates in insertion order: the first is the oldest
    }
    return 0;
  }

  /**
   * The longest a connection attempt may stay CONNECTING before the channel is rebuilt:
   * `connectTimeoutMs`, or two recent round trips if that is longer (an HTTP/2 handshake
   * takes at least one), doubled for each connect timeout in a row (at most 4x), so a
   * link slower than the limit still gets a connection up on the second or third try.
   */
  connectLimitMs(): number {
    const rtt = this.latency.quantile(0.99) ?? 0;
    return (
      Math.max(this.options.connectTimeoutMs, 2 * rtt) * 2 ** Math.min(this.connectTimeouts, 2)
    );
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

  untrackCall(call: Cancellable): void {
    this.calls.delete(call);
    this.keptOnRebuild.delete(call);
  }

  /** Records a failure seen on this endpoint (already counted by the breaker if it ran under it). */
  recordFailure(err: unknown): void {
    this.lastError = describeError(err);
    this.lastErrorAt = this.lastFailureAt = Date.now();
  }

  /**
   * Asks for a rebuild. Rebuilds of one endpoint are spaced by exponential backoff
   * with jitter, so a flapping endpoint cannot cause a reconnect storm; requests
   * made while one is pending are merged.
   */
  requestRebuild(reason: string): void {
    if (this.closed || this.rebuildTimer) {
      return;
    }
    this.rebuildBackoff = this.rebuildBackoff
      ? this.rebuildBackoff.next(undefined)
      : this.rebuildBackoffFactory.next();
    const wait = Math.max(0, this.lastRebuildAt + this.rebuildBackoff.duration - Date.now());
    if (wait === 0) {
      this.rebuild(reason);
      return;
    }
    this.log.debug({ reason, waitMs: wait }, 'rebuild scheduled');
    this.rebuildTimer = setTimeout(() => {
      this.rebuildTimer = undefined;
      this.rebuild(reason);
    }, wait);
    this.rebuildTimer.unref();
  }

  health(): EndpointHealth {
    return {
      endpoint: this.url,
      channelState: this.channelState,
      breakerState: this.breakerState,
      since: this.watches.get('KV')?.since ?? this.lastRebuildAt,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      generation: this.generation,
      rebuilds: this.rebuilds,
    };
  }

  /** Closes channels and streams; idempotent. */
  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearTimeout(this.rebuildTimer);
    this.closeGeneration(this.host);
    this.host.close();
  }

  private rebuild(reason: string): void {
    if (this.closed) {
      return;
    }
    // Swap first: callbacks that fire while the old channels close must see the new host.
    const old = this.host;
    this.generation++;
    this.rebuilds++;
    this.host = this.newHost();
    this.closeGeneration(old);
    this.dial();
    // The backoff spaces rebuilds from the end of this one (closing many streams can take
    // a few ms on a busy machine), so rebuilds are never closer together than the delay.
    this.lastRebuildAt = Date.now();
    this.log.info({ reason, generation: this.generation }, 'channel rebuilt');
    this.rebuildEmitter.emit({ endpoint: this.url, reason, generation: this.generation });
  }

  private closeGeneration(host: Host): void {
    const watches = [...this.watches.values()];
    const streams = [...this.streams];
    const kept = [...this.calls].filter(([c]) => !this.closed && this.keptOnRebuild.has(c));
    const calls = [...this.calls.keys()].filter(c => this.closed || !this.keptOnRebuild.has(c));
    // Kept writes stay tracked, so that close() still cancels them.
    this.calls = new Map(kept);
    this.watches.clear();
    this.streams.clear();
    for (const w of watches) {
      w.stop();
    }
    // Calls and streams still waiting on the old connection end now (reads are retried
    // on the new one) instead of at their deadline; grpc-js would let them run on.
    for (const s of [...streams, ...calls]) {
      s.cancel();
    }
    host.resetAllServices();
  }

  private newHost(): Host {
    return new Host(this.address, this.credentials, {
      ...this.channelOptions,
      [GENERATION_OPTION]: this.generation,
    });
  }

  private watch(service: ServiceName, client: Client): void {
    const generation = this.generation;
    const watch = watchChannel(client.getChannel(), {
      log: this.log,
      connectTimeoutMs: this.connectLimitMs(),
      transientFailureMs: this.options.rebuild.transientFailureMs,
      onStateChange: (from, to) => {
        if (to === 'TRANSIENT_FAILURE') {
          // Learn why (a TLS failure must say so, not just "TRANSIENT_FAILURE").
          void connectFailure(client).then(reason => {
            if (reason && generation === this.generation && !this.closed) {
              this.connectError = reason;
              this.recordFailure(`connection failed: ${reason}`);
            }
          });
        }
        if (service === 'KV' && to === 'CONNECTING') {
          this.connectingAt = Date.now();
        }
        if (service === 'KV' && to === 'READY' && from === 'CONNECTING' && this.connectingAt > 0) {
          // The TCP and HTTP/2 handshakes take about a round trip.
          this.latency.record(Date.now() - this.connectingAt);
        }
        if (to === 'READY') {
          this.connectError = undefined;
          this.connectTimeouts = 0;
          // A connection came up: the next rebuild, if any, starts from the first delay.
          this.rebuildBackoff = undefined;
          if (service === 'KV') {
            // A fresh handshake on the calls' channel. (Another service's channel turns
            // READY at once on the shared connection, even to a frozen member: no news.)
            this.suspect = false;
          }
          if (generation === this.generation) {
            // Healthy again: a rebuild asked for during the outage is moot.
            clearTimeout(this.rebuildTimer);
            this.rebuildTimer = undefined;
          }
          if (this.breaker.state === CircuitState.Open && this.openedForConnectivity) {
            // It opened because the endpoint was unreachable, and the server has just
            // completed a fresh HTTP/2 handshake: let calls through now instead of failing
            // fast until the half-open delay ends. (A breaker opened by failing calls on a
            // working connection waits for its half-open probe as usual.)
            this.breaker.isolate().dispose();
          }
        }
        if (service === 'KV') {
          if (to === 'IDLE' && generation === this.generation) {
            setImmediate(() => this.dial());
          }
          this.log.info(`${from} -> ${to}`);
          this.stateEmitter.emit({ from, to });
        }
      },
      onUnhealthy: (reason, state) => {
        if (generation === this.generation) {
          if (reason === 'connect-timeout') {
            this.connectTimeouts++;
          }
          this.recordFailure(
            new NotConnectedError(
              this.url,
              `channel ${state} too long`,
              this.connectError ?? this.lastError,
            ),
          );
          this.requestRebuild(`${service} ${reason}`);
        }
      },
    });
    this.watches.set(service, Object.assign(watch, { client }));
  }
}

/**
 * No connection to the endpoint was ready in time. The call was never sent, so it is
 * safe to try elsewhere, even for a write.
 */
export class NotConnectedError extends Error {
  public readonly neverSent = true;
  /**
   * @param connectFailed the endpoint's last connection attempt failed outright (refused,
   *   TLS...): a definite answer, unlike a connection that is merely not up yet
   */
  constructor(
    public readonly endpoint: string,
    reason: string,
    lastError?: string,
    public readonly connectFailed = false,
  ) {
    // Only a transport error is worth quoting; not an earlier NotConnectedError.
    const cause =
      lastError && !lastError.startsWith('NotConnectedError') ? ` (last error: ${lastError})` : '';
    super(`Not connected to ${endpoint}: ${reason}${cause}`);
    this.name = 'NotConnectedError';
  }
}
