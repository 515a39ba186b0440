/**
 * Service discovery: a live, typed set of the instances of one service.
 *
 * It lists `<prefix><service>/` (in pages at one revision), then watches from
 * that revision + 1 on the process-wide shared watch stream. Every event whose
 * mod revision is at or below the last revision applied is dropped, and a
 * re-created watch starts right after that revision, so no change is skipped or
 * delivered twice across reconnects, stream rebuilds and stalls. When etcd
 * cancels the watch (its revision was compacted, or an error) the service is
 * listed again and only the difference is emitted.
 */
import type { Event } from 'cockatiel';
import {
  ClientClosedError as Etcd3ClientClosedError,
  type IWatchResponse,
  type Namespace,
} from 'etcd3';
import { ClientClosedError } from '../errors';
import type { Logger } from '../logger';
import { servicePrefix, type ServiceInstance } from '../service-record';
import { namespacePrefixOf, poolOf, prefixEnd } from '../internals/etcd3';
import {
  emptyResult,
  InstanceSet,
  keyText,
  type ApplyResult,
  type InvalidRecord,
} from './instance-set';
import { listPrefix } from './list';
import { limitListing } from './list-limiter';
import {
  resolveDiscoveryOptions,
  type DiscoveryOptions,
  type ResolvedDiscoveryOptions,
} from './options';
import { Emitter } from '../events';
import { Backoff } from '../policy/backoff';
import { assertEtcdClient } from '../policy/etcd-client';
import { watchHubFor } from '../watch/hub-registry';
import type { HubWatch, WatchHub } from '../watch/watch-hub';

/** Payload of {@link Discovery.onUpdated}. */
export interface InstanceUpdate {
  readonly instance: ServiceInstance;
  readonly previous: ServiceInstance;
}

/** Payload of {@link Discovery.onResync}. */
export interface ResyncEvent {
  /** Why the service is listed again, e.g. `compacted (compact revision 1234)`. */
  readonly reason: string;
}

/** Counters of one discovery. */
export interface DiscoveryStats {
  readonly instances: number;
  /** Last etcd revision applied. */
  readonly revision: number;
  /** Re-lists after the initial one. */
  readonly resyncs: number;
  /** Events dropped because they were at or below the revision already applied. */
  readonly duplicatesDropped: number;
  /** Times the watch stream broke or stalled while this discovery was attached. */
  readonly disconnects: number;
}

export class Discovery {
  /** The service discovered. */
  public readonly service: string;
  /**
   * Resolves once the first listing is applied; rejects with `ClientClosedError` if the
   * discovery (or its etcd client) is closed before.
   */
  public readonly ready: Promise<void>;
  /** An instance appeared (also fired for each instance of the first listing). */
  public readonly onAdded: Event<ServiceInstance>;
  /** An instance's address or metadata changed. */
  public readonly onUpdated: Event<InstanceUpdate>;
  /** An instance disappeared (deleted, lease expired, or its record became malformed). */
  public readonly onRemoved: Event<ServiceInstance>;
  /** After each batch of changes, with the new snapshot (computed only if someone listens). */
  public readonly onChange: Event<readonly ServiceInstance[]>;
  /** A record could not be decoded; it is skipped (and logged at `warn`). */
  public readonly onInvalidRecord: Event<InvalidRecord>;
  /** The service is being listed again (after a compaction or a cancelled watch). */
  public readonly onResync: Event<ResyncEvent>;

  private readonly options: ResolvedDiscoveryOptions;
  private readonly log: Logger;
  private readonly set: InstanceSet;
  private readonly hub: WatchHub;
  private readonly pool: object;
  private readonly keyPrefix: string;
  private readonly watchKey: Buffer;
  private readonly nsLength: number;
  /** Highest revision whose events are all applied; the watch resumes at +1. */
  private appliedRevision = 0;
  private watch: HubWatch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private counters = { resyncs: 0, duplicatesDropped: 0, disconnects: 0 };
  private readonly added: Emitter<ServiceInstance>;
  private readonly updated: Emitter<InstanceUpdate>;
  private readonly removed: Emitter<ServiceInstance>;
  private readonly changed: Emitter<readonly ServiceInstance[]>;
  private readonly invalid: Emitter<InvalidRecord>;
  private readonly resynced: Emitter<ResyncEvent>;

  /** Use {@link discover}. Throws `InvalidOptionError` for a bad service name or option. */
  constructor(
    private readonly client: Namespace,
    service: string,
    options: DiscoveryOptions = {},
  ) {
    assertEtcdClient(client); // before reading anything from it (a Proxy, a non-client)
    this.options = resolveDiscoveryOptions(service, options);
    this.service = service;
    const pool = (this.pool = poolOf(client));
    this.log = this.options.logger.child({ component: 'discovery', service });
    this.keyPrefix = servicePrefix(this.options.prefix, service);
    const ns = namespacePrefixOf(client);
    this.nsLength = ns.length;
    this.watchKey = Buffer.concat([ns, Buffer.from(this.keyPrefix)]);
    this.set = new InstanceSet(this.options.prefix, service, this.options.codec);
    this.hub = watchHubFor(pool, {
      requireLeader: this.options.requireLeader,
      retryInitialDelayMs: this.options.retryInitialDelayMs,
      retryMaxDelayMs: this.options.retryMaxDelayMs,
      logger: this.options.logger,
    });
    this.added = new Emitter('added', this.log);
    this.updated = new Emitter('updated', this.log);
    this.removed = new Emitter('removed', this.log);
    this.changed = new Emitter('change', this.log);
    this.invalid = new Emitter('invalidRecord', this.log);
    this.resynced = new Emitter('resync', this.log);
    this.onAdded = this.added.event;
    this.onUpdated = this.updated.event;
    this.onRemoved = this.removed.event;
    this.onChange = this.changed.event;
    this.onInvalidRecord = this.invalid.event;
    this.onResync = this.resynced.event;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // closing before ready must not be an unhandled rejection
    void this.sync(undefined);
  }

  /** The live instances, sorted by id. A frozen array, shared until the next change. */
  snapshot(): readonly ServiceInstance[] {
    return this.set.snapshot();
  }

  /** Counters, for metrics and tests. */
  stats(): DiscoveryStats {
    return { instances: this.set.size, revision: this.appliedRevision, ...this.counters };
  }

  /** Stops watching. Idempotent; returns the same promise every time. Events stop at once. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.watch?.detach();
      this.watch = undefined;
      clearTimeout(this.retryTimer);
      this.wakeRetry?.();
      this.rejectReady(new ClientClosedError(`discovery of "${this.service}"`));
      this.closing = Promise.resolve();
    }
    return this.closing;
  }

  /** Lists the service (retrying with backoff until it works or close()), applies the difference, then watches. */
  private async sync(reason: string | undefined): Promise<void> {
    this.watch?.detach();
    this.watch = undefined;
    if (reason !== undefined) {
      this.counters.resyncs++;
      this.log.info({ reason }, 'listing the service again');
      this.resynced.emit({ reason });
    }
    const backoff = new Backoff({
      initialDelayMs: this.options.retryInitialDelayMs,
      maxDelayMs: this.options.retryMaxDelayMs,
    });
    while (!this.closed) {
      try {
        const listing = await limitListing(this.pool, () =>
          listPrefix(this.client, this.keyPrefix, this.options.pageSize),
        );
        if (this.closed) {
          return;
        }
        const result = this.set.replace(listing.records);
        this.appliedRevision = listing.revision;
        this.publish(result);
        this.resolveReady();
        this.watch = this.hub.attach(
          {
            key: this.watchKey,
            rangeEnd: prefixEnd(this.watchKey),
            startRevision: () => this.appliedRevision + 1,
            onResponse: res => this.onResponse(res),
            onCanceled: res => this.onCanceled(res),
            onDisconnected: () => this.counters.disconnects++,
          },
          this.options,
        );
        return;
      } catch (err) {
        if (err instanceof Etcd3ClientClosedError) {
          this.log.warn('etcd client closed; discovery stopped');
          void this.close();
          return;
        }
        const delayMs = backoff.next();
        this.log.warn(
          { err, retryInMs: Math.round(delayMs) },
          'listing the service failed; retrying',
        );
        await this.sleep(delayMs);
      }
    }
  }

  private onResponse(res: IWatchResponse): void {
    if (this.closed) {
      return;
    }
    const headerRevision = Number(res.header?.revision ?? 0);
    if (res.events.length === 0) {
      // A per-watch progress notification: etcd sends it only to a watch that has
      // received every event up to the header revision.
      this.appliedRevision = Math.max(this.appliedRevision, headerRevision);
      return;
    }
    const out = emptyResult();
    let highest = this.appliedRevision;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.appliedRevision) {
        (out as { duplicates: number }).duplicates++;
        continue;
      }
      const key = keyText(ev.kv.key.subarray(this.nsLength));
      const isDelete = String(ev.type).toUpperCase() === 'DELETE';
      this.set.apply(key, isDelete ? undefined : ev.kv.value.toString(), rev, out);
      highest = Math.max(highest, rev);
    }
    this.appliedRevision = highest;
    this.publish(out);
  }

  private onCanceled(res: IWatchResponse): void {
    this.watch = undefined;
    if (this.closed) {
      return;
    }
    const compacted = Number(res.compact_revision ?? 0);
    const reason =
      compacted > 0
        ? `compacted (compact revision ${compacted}, needed ${this.appliedRevision + 1})`
        : `watch cancelled by etcd: ${res.cancel_reason || 'no reason given'}`;
    void this.sync(reason);
  }

  private publish(result: ApplyResult): void {
    this.counters.duplicatesDropped += result.duplicates;
    for (const c of result.changes) {
      if (c.type === 'added') {
        this.added.emit(c.instance);
      } else if (c.type === 'updated') {
        this.updated.emit({ instance: c.instance, previous: c.previous });
      } else {
        this.removed.emit(c.instance);
      }
    }
    for (const bad of result.invalid) {
      this.log.warn({ key: bad.key, err: bad.error }, 'skipping a malformed service record');
      this.invalid.emit(bad);
    }
    if (result.changes.length > 0 && this.changed.size > 0) {
      this.changed.emit(this.set.snapshot());
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, ms);
      this.retryTimer.unref();
    });
  }
}

/**
 * Starts discovering `service`: lists its instances, then follows every change.
 * Throws `InvalidOptionError` for a bad service name or option (before any I/O).
 *
 * @param client an `Etcd3` (ours or etcd3's) or a `Namespace` of one; discoveries of
 *   the same client share one watch stream.
 * @example
 * ```ts
 * const orders = discover(client, 'orders', { prefix: 'services/' });
 * orders.onAdded(i => console.log('up', i.addr));
 * orders.onRemoved(i => console.log('down', i.addr));
 * await orders.ready;
 * console.log(orders.snapshot());
 * await orders.close();
 * ```
 */
export function discover(
  client: Namespace,
  service: string,
  options?: DiscoveryOptions,
): Discovery {
  return new Discovery(client, service, options);
}
