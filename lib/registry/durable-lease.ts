/**
 * A lease that outlives outages: it is kept alive with one keepalive stream, and
 * when it is lost it is granted again and every key attached to it is written
 * again, with jittered backoff and no retry limit until `close()`.
 */
import { assertEtcdClient } from '../policy/etcd-client';
import { readKnownOptions } from '../policy/read-options';
import { retryWrites } from '../policy/retry-writes';
import { ClientClosedError, EtcdLeaseInvalidError, type Namespace } from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { Emitter, type Event, type IDisposable } from '../events';
import { InvalidOptionError, NoEndpointAvailableError } from '../errors';
import { isLogger, noopLogger, type Logger } from '../logger';
import { LeasedKeys, type KeyHealCause, type LeasedKeyState } from './leased-keys';
import {
  DURABLE_LEASE_KEYS,
  resolveLeaseOptions,
  type DurableLeaseOptions,
  type ResolvedLeaseOptions,
} from './lease-options';
import { LeaseRenewer } from './lease-renewer';
import { Backoff } from '../policy/backoff';
import { describeError } from '../policy/describe-error';
import { isPermanentError } from '../policy/permanent-error';
import { deadlineIn } from './util';
import { Waker } from './waker';

export type { DurableLeaseOptions } from './lease-options';
export type { KeyHealCause, LeasedKeyState } from './leased-keys';

/** Retry delay after a call refused locally because every breaker is open, ms. */
const LOCAL_REFUSAL_RETRY_MS = 100;

/**
 * True for a call refused before it was sent because circuit breakers are open:
 * our client's `NoEndpointAvailableError`, or cockatiel's `BrokenCircuitError`
 * (raw etcd3). Checked by brand/code, so duplicate package copies still match.
 */
function isLocalRefusal(err: unknown): boolean {
  return err instanceof NoEndpointAvailableError || isBrokenCircuitError(err);
}

/** Lifecycle of a {@link DurableLease}. */
export type DurableLeaseState =
  /** No lease granted yet (first grant in progress or retrying). */
  | 'granting'
  /** A lease is held and renewed. */
  | 'alive'
  /** The lease was lost; a new one is being granted and keys re-written. */
  | 'lost'
  /** `close()` was called. Terminal. */
  | 'closed';

/**
 * Why a lease was declared lost:
 * - `expired`: a keepalive reply said TTL ≤ 0 (etcd expired or revoked it);
 * - `keepalive-timeout`: no keepalive succeeded for the lease's TTL, so etcd has
 *   expired it by now (detected at the server's TTL, not etcd3's 2×TTL);
 * - `not-found`: a write under the lease failed with "requested lease not found".
 */
export type LeaseLossReason = 'expired' | 'keepalive-timeout' | 'not-found';

/** Payload of {@link DurableLease.onLost}. */
export interface LeaseLostEvent {
  readonly leaseId: string;
  readonly reason: LeaseLossReason;
  /** ms since the last successful keepalive (or grant). */
  readonly sinceRenewalMs: number;
}

/** Payload of {@link DurableLease.onRestored}. */
export interface LeaseRestoredEvent {
  /** The new lease. */
  readonly leaseId: string;
  /** The lease that was lost. */
  readonly lostLeaseId: string;
  /** ms from declaring the loss until the new lease was granted and every key re-written. */
  readonly outageMs: number;
  /** Keys re-written. */
  readonly keys: number;
}

/**
 * A self-renewing, self-re-granting etcd lease with attached keys.
 *
 * Keepalives go every `ttl/3` (at least 500 ms) over one stream, each with a reply
 * deadline. The lease is declared lost when etcd says its TTL is ≤ 0, when a write
 * says it does not exist, or when no keepalive succeeded for a full TTL (measured
 * from the last reply, so etcd has expired it by then unless a leader change
 * extended it; re-granting is then merely redundant). Losses, grants and re-writes
 * are reported through events; keys are re-put under the same names.
 *
 * @example
 * const lease = new DurableLease(client, { ttlSeconds: 10, logger });
 * lease.onLost(e => log.warn(e, 'lease lost'));
 * await lease.attach('config/worker-1', 'ready');
 * // ...
 * await lease.close(); // revokes: attached keys disappear at once
 */
export class DurableLease {
  private readonly lostEmitter = new Emitter<LeaseLostEvent>('lost');
  private readonly restoredEmitter = new Emitter<LeaseRestoredEvent>('restored');
  private readonly grantedEmitter = new Emitter<{ leaseId: string; ttlSeconds: number }>('granted');
  private readonly closedEmitter = new Emitter<void>('closed');
  private readonly opts: ResolvedLeaseOptions;
  private readonly log: Logger;
  private readonly renewer: LeaseRenewer;
  private readonly keys: LeasedKeys;
  private readonly grantWaker = new Waker();
  // Woken, and `reconnects` bumped, when one of our client's channels becomes READY.
  private readonly reconnectWaker = new Waker();
  private reconnects = 0;
  private readonly grantBackoff: Backoff;
  private readonly subscriptions: IDisposable[] = [];
  private innerState: DurableLeaseState = 'granting';
  // Set iff state is 'alive'.
  private id: string | undefined;
  // Bumped on every grant, loss and close; async work started under an older value is stale.
  private generation = 0;
  private ttlMs: number;
  // Set from the first loss until the keys are restored under a new lease.
  private outage: { since: number; leaseId: string } | undefined;
  private closing: Promise<void> | undefined;
  // Set iff the lease closed itself because etcd refused it permanently (see `failure`).
  private failedWith: unknown;
  // Guards handed over by closed registrations, for keys kept as tombstones (see LeasedKeys).
  private readonly adopted = new Map<string, { stop(): void }>();

  /** A lease was lost; keys may be gone until {@link onRestored}. */
  public readonly onLost: Event<LeaseLostEvent> = this.lostEmitter.event;
  /** After a loss, a new lease was granted and every attached key re-written. */
  public readonly onRestored: Event<LeaseRestoredEvent> = this.restoredEmitter.event;
  /** A lease was granted (first grant and every re-grant). */
  public readonly onGranted: Event<{ leaseId: string; ttlSeconds: number }> =
    this.grantedEmitter.event;
  /** The lease was closed: by `close()`, or because the etcd client it uses was closed. */
  public readonly onClosed: Event<void> = this.closedEmitter.event;
  /** A key was written under the lease (`cause`: first write, restore after a loss, or heal). */
  public readonly onKeyWritten: LeasedKeys['onWritten'];
  /** A key deleted or overwritten by someone else was put back (see {@link heal}). */
  public readonly onKeyHealed: LeasedKeys['onHealed'];

  /**
   * Starts granting at once. `client` is an etcd3 `Etcd3` or `Namespace` (ours or
   * etcd3's); keys are written through it, so a namespace prefixes them.
   * @throws InvalidOptionError on bad options, before any call.
   */
  constructor(
    private readonly client: Namespace,
    options: DurableLeaseOptions,
  ) {
    assertEtcdClient(client);
    // Read once into a plain object: getters and Proxy traps cannot throw later, typos fail.
    options = readKnownOptions(
      options,
      DURABLE_LEASE_KEYS,
      'options',
      '',
    ) as unknown as DurableLeaseOptions;
    if (options.backoff !== undefined) {
      options = {
        ...options,
        backoff: readKnownOptions(
          options.backoff,
          ['initialDelayMs', 'maxDelayMs'],
          'backoff',
          'backoff.',
        ),
      };
    }
    if (options.logger !== undefined && !isLogger(options.logger)) {
      throw new InvalidOptionError('logger', 'must be a pino-compatible logger');
    }
    this.opts = resolveLeaseOptions(options);
    this.ttlMs = this.opts.ttlSeconds * 1000;
    this.log = (options.logger ?? noopLogger).child({
      component: 'durable-lease',
      ttlSeconds: this.opts.ttlSeconds,
    });
    for (const e of [
      this.lostEmitter,
      this.restoredEmitter,
      this.grantedEmitter,
      this.closedEmitter,
    ]) {
      e.setLogger(this.log);
    }
    this.grantBackoff = new Backoff(this.opts.backoff);
    this.renewer = new LeaseRenewer(
      client.leaseClient,
      this.opts,
      this.log,
      (reason, sinceRenewalMs) => this.markLost(reason, sinceRenewalMs),
      () => this.clientClosed(),
    );
    this.keys = new LeasedKeys(client, this.opts, this.log, {
      leaseId: () => this.id,
      generation: () => this.generation,
      onLeaseInvalid: () => this.markLost('not-found'),
      onSettled: () => this.maybeRestored(),
      onClientClosed: () => this.clientClosed(),
    });
    this.onKeyWritten = this.keys.onWritten;
    this.onKeyHealed = this.keys.onHealed;
    this.followReconnects();
    void this.acquire(this.generation);
  }

  /** Current state. */
  get state(): DurableLeaseState {
    return this.innerState;
  }

  /** The lease id (decimal string) while `alive`, else undefined. */
  get leaseId(): string | undefined {
    return this.id;
  }

  /** TTL granted by etcd (as last reported by a keepalive), seconds. */
  get ttlSeconds(): number {
    return this.renewer.ttlSeconds || this.ttlMs / 1000;
  }

  /** Number of keepalive streams opened so far (normally 1 per lease; more after failures). */
  get keepaliveStreamsOpened(): number {
    return this.renewer.streamsOpened;
  }

  /**
   * Remote `host:port` of the connection carrying the keepalive stream (which etcd
   * member renews this lease), when known. For diagnostics.
   */
  get keepalivePeer(): string | undefined {
    return this.renewer.peer;
  }

  /** Number of attached keys. */
  get size(): number {
    return this.keys.size;
  }

  /**
   * Attaches `key` (written through the client, so a namespace prefixes it) with
   * `value` to the lease: it is put now and again after every re-grant. Resolves
   * once it is written under the current lease; rejects only if the lease closes.
   */
  attach(key: string, value: string): Promise<void> {
    this.assertOpen();
    this.adopted.get(key)?.stop();
    this.adopted.delete(key);
    return this.keys.attach(key, value);
  }

  /**
   * Detaches `key` and deletes it from etcd (retried until it succeeds, the lease
   * is lost, or it closes). Resolves when the key is gone or no longer ours.
   */
  detach(key: string): Promise<void> {
    return this.keys.detach(key);
  }

  /**
   * Writes `key` again because someone else deleted or overwrote it; emits
   * {@link onKeyHealed} once done. No-op for a key that is not attached.
   */
  heal(key: string, cause: KeyHealCause): void {
    if (this.innerState !== 'closed') {
      this.keys.heal(key, cause);
    }
  }

  /**
   * The error that made the lease give up, when etcd refused it permanently
   * (permission denied, authentication failed, invalid argument); else undefined.
   */
  get failure(): unknown {
    return this.failedWith;
  }

  /**
   * A tombstoned key (deleted, but guarded against a late copy of one of our puts)
   * reappeared under our lease at `modRevision`: delete it again.
   */
  reappeared(key: string, modRevision: number): void {
    if (this.innerState !== 'closed') {
      this.keys.reappeared(key, modRevision);
    }
  }

  /**
   * Keeps `guard` running for a detached key while it is a tombstone (until the
   * lease is lost or closed, or the key is attached again). Stops it at once if
   * the key is not a tombstone.
   * @internal used by registrations that close while sharing this lease.
   */
  adoptGuard(key: string, guard: { stop(): void }): void {
    this.adopted.get(key)?.stop();
    this.adopted.delete(key);
    const st = this.keys.state(key);
    if (this.innerState === 'closed' || !st || st.desired === 'present' || !st.mayReappear) {
      guard.stop();
      return;
    }
    this.adopted.set(key, guard);
  }

  /** What the lease knows about `key`, for comparing with watch events; undefined if not attached. */
  keyState(key: string): LeasedKeyState | undefined {
    return this.keys.state(key);
  }

  /** Sends a keepalive now (e.g. after a reconnect) so a lost lease is noticed at once. */
  probe(): void {
    this.renewer.probe();
  }

  /**
   * Stops renewing and, if `revoke` (default true), revokes the lease within
   * `closeTimeoutMs` so every attached key disappears at once. On a failed revoke
   * the keys expire within the TTL (logged at `warn`). Idempotent: returns the
   * same promise every time; never rejects.
   */
  close(options: { revoke?: boolean } = {}): Promise<void> {
    if (this.closing) {
      return this.closing;
    }
    const id = this.id;
    this.innerState = 'closed';
    this.id = undefined;
    this.generation++;
    this.renewer.close();
    this.grantWaker.wake();
    this.reconnectWaker.wake();
    this.keys.close(this.failedWith ?? new ClientClosedError('DurableLease'));
    this.stopAdopted();
    this.subscriptions.splice(0).forEach(s => s.dispose());
    this.closing =
      id !== undefined && options.revoke !== false ? this.revoke(id) : Promise.resolve();
    this.closedEmitter.emit(undefined);
    return this.closing;
  }

  private async acquire(gen: number): Promise<void> {
    while (this.generation === gen && this.innerState !== 'closed') {
      const outcome = await this.grantOnce();
      if (outcome === 'superseded') {
        continue; // a connection just became ready: try on it at once
      }
      if ('err' in outcome && outcome.err instanceof ClientClosedError) {
        this.clientClosed();
        return;
      }
      if ('err' in outcome && isPermanentError(outcome.err)) {
        // No permission, bad credentials: retrying cannot help. Every key's attach()
        // rejects with this error and the lease closes.
        this.failedWith = outcome.err;
        this.log.error(
          { err: describeError(outcome.err) },
          'lease grant refused by etcd; giving up',
        );
        void this.close({ revoke: false });
        return;
      }
      if ('err' in outcome) {
        // A breaker-open refusal is local and free: poll it briefly instead of backing
        // off, so the grant is the first call through once the breaker lets one pass.
        const delayMs = isLocalRefusal(outcome.err)
          ? LOCAL_REFUSAL_RETRY_MS
          : this.grantBackoff.next();
        this.log.debug(
          { err: describeError(outcome.err), delayMs },
          'lease grant failed; retrying',
        );
        await this.grantWaker.sleep(delayMs);
        continue;
      }
      const id = String(outcome.res.ID);
      if (this.generation !== gen) {
        void this.revoke(id); // closed while granting: do not leak it
        return;
      }
      this.granted(id, Number(outcome.res.TTL));
      return;
    }
  }

  /**
   * One grant attempt. A retried grant can at worst leave an unused lease that
   * expires after its TTL, so it is marked retryable (our client may then cut a
   * hung attempt short). If a channel becomes READY while the attempt is in flight
   * (it may be stuck on a connection that just died), the attempt is abandoned as
   * `'superseded'`; should it still succeed, that lease is revoked.
   */
  private async grantOnce(): Promise<
    { res: { ID: string; TTL: string } } | { err: unknown } | 'superseded'
  > {
    const attempt = this.client.leaseClient
      .leaseGrant({ TTL: this.opts.ttlSeconds }, retryWrites(deadlineIn(this.opts.callTimeoutMs)))
      .then(
        res => ({ res }),
        (err: unknown) => ({ err }),
      );
    const seen = this.reconnects;
    const superseded = this.reconnectWaker
      .sleep(this.opts.callTimeoutMs + 1000)
      .then(() =>
        this.reconnects !== seen ? ('superseded' as const) : new Promise<never>(() => undefined),
      );
    const outcome = await Promise.race([attempt, superseded]);
    if (outcome === 'superseded') {
      void attempt.then(o => {
        if ('res' in o) {
          void this.revoke(String(o.res.ID));
        }
      });
    }
    return outcome;
  }

  /** The etcd client was closed under us: nothing can be done any more, so close too. */
  private clientClosed(): void {
    if (this.innerState !== 'closed') {
      this.log.warn(
        { leaseId: this.id },
        'etcd client closed; lease stops (its keys expire within the TTL)',
      );
      void this.close({ revoke: false });
    }
  }

  private granted(id: string, ttlSeconds: number): void {
    this.generation++;
    this.innerState = 'alive';
    this.id = id;
    this.ttlMs = Math.max(1, ttlSeconds || this.opts.ttlSeconds) * 1000;
    this.grantBackoff.reset();
    this.renewer.start(id, this.ttlMs / 1000);
    this.log.info({ leaseId: id, ttlSeconds: this.ttlSeconds }, 'lease granted');
    this.grantedEmitter.emit({ leaseId: id, ttlSeconds: this.ttlSeconds });
    this.keys.rewriteAll();
  }

  private markLost(reason: LeaseLossReason, sinceRenewalMs = this.renewer.sinceRenewalMs): void {
    const id = this.id;
    if (this.innerState !== 'alive' || id === undefined) {
      return;
    }
    const now = Date.now();
    this.generation++;
    this.innerState = 'lost';
    this.id = undefined;
    this.outage ??= { since: now, leaseId: id };
    this.renewer.stop();
    this.keys.leaseGone();
    this.stopAdopted();
    const event = { leaseId: id, reason, sinceRenewalMs };
    this.log.error(
      { ...event, keys: this.keys.size },
      'lease lost; re-granting and re-writing keys',
    );
    this.lostEmitter.emit(event);
    void this.acquire(this.generation);
  }

  private maybeRestored(): void {
    if (this.innerState !== 'alive' || !this.outage || !this.keys.allWritten()) {
      return;
    }
    const event = {
      leaseId: this.id as string,
      lostLeaseId: this.outage.leaseId,
      outageMs: Date.now() - this.outage.since,
      keys: this.keys.size,
    };
    this.outage = undefined;
    this.log.info(event, 'lease restored; keys re-written');
    this.restoredEmitter.emit(event);
  }

  /**
   * With our resilient client, a channel that becomes READY again triggers an
   * immediate keepalive and cuts any grant or write backoff short.
   */
  private followReconnects(): void {
    const onStateChange = (this.client as { onStateChange?: unknown }).onStateChange;
    if (typeof onStateChange === 'function') {
      const sub = (onStateChange as Event<{ to: string }>).call(this.client, e => {
        if (e.to === 'READY') {
          this.reconnects++;
          this.reconnectWaker.wake();
          this.probe();
          this.grantWaker.wake();
          this.keys.wake();
        }
      });
      this.subscriptions.push(sub);
    }
    const onBreaker = (this.client as { onBreakerStateChange?: unknown }).onBreakerStateChange;
    if (typeof onBreaker === 'function') {
      // A breaker that half-opens lets one call through: make it our pending grant.
      const sub = (onBreaker as Event<{ state: string }>).call(this.client, e => {
        if (e.state !== 'open') {
          this.grantWaker.wake();
          this.keys.wake();
        }
      });
      this.subscriptions.push(sub);
    }
  }

  private async revoke(id: string): Promise<void> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: id }, deadlineIn(this.opts.closeTimeoutMs));
      this.log.info({ leaseId: id }, 'lease revoked');
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) {
        this.log.warn(
          { leaseId: id, err: describeError(err) },
          'lease revoke failed; its keys expire within the TTL',
        );
      }
    }
  }

  private stopAdopted(): void {
    for (const g of this.adopted.values()) {
      g.stop();
    }
    this.adopted.clear();
  }

  private assertOpen(): void {
    if (this.innerState === 'closed') {
      throw new ClientClosedError('DurableLease');
    }
  }
}
