/**
 * The resilient client: etcd3's `Etcd3`, same constructor options and methods,
 * with every call routed through {@link ResilientPool}.
 */
import { credentials as grpcCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { ExponentialBackoff, type Event } from 'cockatiel';
import {
  Etcd3 as BaseEtcd3,
  type ILeaseOptions,
  type IOptions,
  type Election,
  type Lock,
  type WatchBuilder,
  type Namespace,
} from 'etcd3';
import { ClientWatchers, type WatchRewind } from './client-watchers';

export type { WatchRewind };
import { keepaliveChannelOptions } from './channel/keepalive';
import {
  OwnedElection,
  OwnedLease,
  OwnedLock,
  heldLeases,
  namespaceParts,
  ownNamespace,
} from './lease';
import { installCancellation } from './cancel/install';
import { installPool } from './internals/etcd3';
import type { Logger } from './logger';
import { resolveOptions, type ResilientEtcdOptions, type ResolvedOptions } from './options';
import { Endpoint, type EndpointHealth, type RebuildEvent } from './pool/endpoint';
import {
  ResilientPool,
  type BreakerEvent,
  type CallEvent,
  type RetryEvent,
  type StateChangeEvent,
} from './pool/resilient-pool';

export type { BreakerEvent, StateChangeEvent } from './pool/resilient-pool';

/** What `client.health()` returns. */
export interface HealthSnapshot {
  /** True after `close()`. */
  readonly closed: boolean;
  /** True if at least one endpoint is connected and its breaker closed. */
  readonly healthy: boolean;
  readonly endpoints: EndpointHealth[];
}

/**
 * A drop-in replacement for etcd3's `Etcd3`: same options, same API, plus
 * keepalive, deadlines, safe retries, per-endpoint breakers, failover, channel
 * rebuilds, `health()` and typed events.
 *
 * @example
 * ```ts
 * import { Etcd3 } from 'etcd3-resilient';
 * const client = new Etcd3({ hosts: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'] });
 * await client.put('foo').value('bar');
 * client.onStateChange(e => console.log(e.endpoint, e.from, '->', e.to));
 * await client.close();
 * ```
 */
export class Etcd3 extends BaseEtcd3 {
  // Every event below follows the library's one listener rule (lib/events.ts): a
  // listener that throws is logged at `error` and ignored; it never changes a call's
  // outcome, the client's state or the other listeners, and never reaches grpc-js.

  /** Fires when an endpoint's KV channel changes state (`FROM -> TO`). */
  public readonly onStateChange: Event<StateChangeEvent>;
  /** Fires after an endpoint's channels were closed and dialled afresh. */
  public readonly onRebuild: Event<RebuildEvent>;
  /** Fires when an endpoint's circuit breaker opens, half-opens or closes. */
  public readonly onBreakerStateChange: Event<BreakerEvent>;
  /** Fires before each retry round of a unary call. */
  public readonly onRetry: Event<RetryEvent>;
  /** Fires when a unary call settles, with its duration and outcome (for metrics). */
  public readonly onCall: Event<CallEvent>;
  /**
   * Fires when a watch resumes from an earlier revision than it remembered, because
   * the cluster went back in time (restored from a backup, or a new cluster behind
   * the same address); also logged at `warn`. The watcher's `lastRevision()` is
   * lowered as etcd3 lowers it. See {@link WatchRewind}.
   */
  public readonly onWatchRewind: Event<WatchRewind>;

  private readonly resilient: ResilientPool;
  private readonly settings: ResolvedOptions;
  private readonly log: Logger;
  private readonly leases = new Set<OwnedLease>();
  /** Every lease of the client and its namespaces, locks and campaigns is in `leases`. */
  private readonly newLease = heldLeases(this.leases, () => this.log);
  /** Live watchers of the client and all its namespaces (never the namespaces). */
  private readonly watchers: ClientWatchers;
  private syncTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  /** Throws `InvalidOptionError` for a bad option, before any connection is made. */
  constructor(options: ResilientEtcdOptions = {}) {
    const settings = resolveOptions(options);
    const etcd3Options = {
      ...settings.etcd3,
      // Only the watch backoff goes to etcd3: our pool applies `global` and `host`
      // itself (etcd3's pool, replaced, would create unused host policies).
      faultHandling: {
        watchBackoff:
          settings.etcd3.faultHandling?.watchBackoff ??
          new ExponentialBackoff({ initialDelay: 50, maxDelay: 3000 }),
      },
    };
    super(etcd3Options as IOptions);
    this.settings = settings;
    this.log = settings.logger.child({ component: 'etcd3-resilient' });
    if (settings.etcd3.auth && !settings.hosts[0].startsWith('https://')) {
      this.log.warn(
        'auth is configured over plaintext http://: the password and tokens cross the network in clear',
      );
    }
    const creds = channelCredentials(settings);
    const channelOptions = keepaliveChannelOptions(settings.keepalive, settings.etcd3.grpcOptions);
    this.resilient = new ResilientPool(
      settings,
      url => new Endpoint(url, creds, channelOptions, settings),
    );
    installPool(this, this.resilient);
    this.onStateChange = this.resilient.onStateChange;
    this.onRebuild = this.resilient.onRebuild;
    this.onBreakerStateChange = this.resilient.onBreakerStateChange;
    this.onRetry = this.resilient.onRetry;
    this.onCall = this.resilient.onCall;
    this.watchers = new ClientWatchers(this.log, async () => {
      const res = await super.get(Buffer.from([0])).exec(); // linearizable
      return BigInt(res.header.revision);
    });
    this.onWatchRewind = this.watchers.onRewind;
    if (settings.autoSyncIntervalMs > 0) {
      this.syncTimer = setInterval(() => this.sync(), settings.autoSyncIntervalMs);
      this.syncTimer.unref();
    }
    // `signal` for lease grants, lock acquisition, campaigns and watch creation.
    installCancellation(this);
  }

  /** A snapshot of every endpoint's channel and breaker state. Contains no secrets. */
  health(): HealthSnapshot {
    const endpoints = this.resilient.endpoints.map(ep => ep.health());
    return {
      closed: this.closing !== undefined,
      healthy:
        this.closing === undefined &&
        endpoints.some(e => e.channelState === 'READY' && e.breakerState === 'closed'),
      endpoints,
    };
  }

  /** Refreshes the endpoint list from the member list now (see `autoSyncIntervalMs`). */
  async syncEndpoints(): Promise<{ added: string[]; removed: string[] }> {
    const result = await this.resilient.sync();
    if (result.added.length || result.removed.length) {
      this.log.info(result, 'endpoints synced from member list');
    }
    return result;
  }

  /**
   * etcd3's `lease()`, returning an {@link OwnedLease} (an etcd3 `Lease`): keepalives
   * every TTL/3 (more often for TTLs under ~4 s, to ride out a leader election), moved to another member when one is slow or fails, and `lost` fired no
   * later than the send time of the last acknowledged keepalive + TTL − max(100 ms,
   * 5 % of TTL), even on a silent network. Adds `signal`, `onLost(listener)` and
   * `remainingMs()`. Its keepalive stops when the client closes; the client holds it
   * only until it is revoked, released or lost.
   *
   * @param ttl seconds, a finite number in [1, 9,000,000,000] (etcd's maximum); else
   *   throws `InvalidTtlError` (an `InvalidOptionError` and, as in etcd3, a `RangeError`)
   * @param options etcd3's lease options, read once; unreadable ones, a `signal` that is
   *   not an `AbortSignal` or a non-boolean `autoKeepAlive` throw `InvalidOptionError`
   */
  override lease(ttl: number, options?: ILeaseOptions): OwnedLease {
    const { pool, nsApplicator } = namespaceParts(this);
    return this.newLease(pool, nsApplicator, ttl, options);
  }

  /**
   * etcd3's `lock()`, returning an {@link OwnedLock} (an etcd3 `Lock`) whose lease is an
   * {@link OwnedLease}; after `acquire()` it has `signal`, `onLost(listener)` and
   * `fencingToken`. See docs/locks-and-elections.md. A `key` that is not a string or a
   * Buffer throws `InvalidOptionError` here; a bad `ttl()` makes `acquire()` reject
   * with `InvalidTtlError`, before anything is sent.
   */
  override lock(key: string | Buffer): OwnedLock & Lock {
    const { pool, nsApplicator } = namespaceParts(this);
    return new OwnedLock(pool, nsApplicator, key, this.log, this.newLease);
  }

  /**
   * etcd3's `election()`, returning an {@link OwnedElection}: its campaigns have
   * `signal`, `onLost(listener)`, `isLeader` and an opt-in `recampaign` option.
   * `ttl` in seconds, defaults to 60 as in etcd3. A `name` that is not a string or a
   * Buffer throws `InvalidOptionError`, a bad `ttl` `InvalidTtlError`.
   */
  override election(name: string, ttl?: number): OwnedElection & Election {
    return new OwnedElection(this, name, ttl, this.log, this.newLease);
  }

  /**
   * etcd3's `watch()`. Its watchers resume exactly after a reconnect: from the last
   * delivered event, never past events still in flight (etcd3 alone can skip some);
   * a watcher ahead of a cluster that went back in time resumes at the cluster's
   * revision (see {@link onWatchRewind}). `create()` rejects with `ClientClosedError`
   * after `close()`.
   */
  override watch(): WatchBuilder {
    return this.watchers.builder(super.watch());
  }

  /**
   * etcd3's `namespace()`; its watchers (and those of namespaces made from it) behave
   * as the client's own and end when the client closes, and its `lease()`, `lock()`
   * and `election()` return the owned variants, as the client's do. The client does
   * not hold the namespace.
   */
  override namespace(prefix: string | Buffer): Namespace {
    return ownNamespace(this.watchers.adopt(super.namespace(prefix)), this.newLease, this.log);
  }

  /**
   * Closes the client, in order: watchers are cancelled, lease keepalives stopped
   * (leases are not revoked: their keys live until their TTL, as with etcd3), then
   * streams and channels closed. Bounded by `closeTimeoutMs`; idempotent (returns
   * the same promise). Calls made afterwards fail with `ClientClosedError`.
   */
  override close(): Promise<void> {
    if (!this.closing) {
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.watchers.close(this.settings.closeTimeoutMs);
    for (const lease of [...this.leases]) {
      lease.endWithClient();
    }
    this.resilient.close();
    this.log.info('closed');
  }

  private sync(): void {
    this.syncEndpoints().catch(err => this.log.warn({ err: String(err) }, 'endpoint sync failed'));
  }
}

/**
 * Creates a resilient client; the same as `new Etcd3(options)`.
 *
 * @example
 * ```ts
 * const client = createClient({ hosts: process.env.ETCD_ENDPOINTS!.split(','), logger: pino() });
 * ```
 */
export function createClient(options: ResilientEtcdOptions = {}): Etcd3 {
  return new Etcd3(options);
}

function channelCredentials(settings: ResolvedOptions): ChannelCredentials {
  const c = settings.etcd3.credentials;
  if (c) {
    return grpcCredentials.createSsl(c.rootCertificate, c.privateKey, c.certChain);
  }
  return settings.hosts[0].startsWith('https://')
    ? grpcCredentials.createSsl()
    : grpcCredentials.createInsecure();
}
