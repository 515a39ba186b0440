/**
 * etcd3's `Lease` with a keepalive that knows, from its own clock, when etcd may
 * expire the lease, and says so before (see {@link KeepaliveLoop}).
 */
import {
  EtcdLeaseInvalidError,
  Lease,
  type ILeaseKeepAliveResponse,
  type ILeaseOptions,
} from 'etcd3';
import type { Event } from '../events';
import type { Logger } from '../logger';
import { leaseHooks } from './etcd3-lease-hooks';
import { leaseOptions, leaseTtl } from './lease-args';
import { monotonicNow, safetyMarginMs } from './expiry-bound';
import { KeepaliveLoop } from './keepalive-loop';
import type { StreamPool } from './open-keepalive-stream';
import { Ownership } from './ownership';
import type { OwnershipEnd } from './ownership-ended-error';

/**
 * An etcd3 `Lease` (same events, methods and errors) whose loss is bounded by etcd's
 * expiry instead of noticed after 2×TTL:
 *
 * - keepalives every TTL/3 (down to TTL/10 for TTLs under ~4 s, so the lease rides out
 *   an etcd leader election); one not answered within `max(TTL/6, 2 × recent round trip)`
 *   is sent again on another member, and a failed stream is re-opened elsewhere at once;
 * - `lost` fires no later than
 *   `send time of the last acknowledged keepalive + TTL − max(100 ms, 5 % of TTL)`,
 *   measured on this process's real monotonic clock, even if the network is silent,
 *   with etcd3's own error for that case (`EtcdLeaseInvalidError`, "…our lease has
 *   expired…"), after a `keepaliveFailed` as in etcd3;
 * - everything else is etcd3's: a failed grant gives `lost` with the grant's error,
 *   etcd answering TTL 0 gives `keepaliveFailed` then `lost` with
 *   `EtcdLeaseInvalidError`, a stream silent for the TTL gives `keepaliveFailed`
 *   (`GRPCCancelledError`), and more than 2×TTL without an answer (etcd3's
 *   `lastKeepAlive`, wall clock) gives `lost`; these follow fake timers as etcd3's do.
 *
 * New members: {@link signal}, {@link onLost}, {@link remainingMs}.
 */
export class OwnedLease extends Lease {
  private readonly ownership: Ownership;
  private readonly loop: KeepaliveLoop;
  private ending: OwnershipEnd = 'released';

  /** @internal Use `client.lease(ttl)`. */
  constructor(
    pool: StreamPool,
    namespace: unknown,
    ttl: number,
    options?: ILeaseOptions,
    log?: Logger,
  ) {
    const sentAt = monotonicNow();
    // Checked before etcd3's constructor grants the lease (nothing is sent for bad input).
    super(pool as any, namespace as any, leaseTtl(ttl, 'ttl'), leaseOptions(options));
    this.ownership = new Ownership('lease', log);
    const self = this as unknown as { lastKeepAlive: number };
    const host = {
      emit: (event: string, arg?: unknown) =>
        arg === undefined ? this.emit(event) : this.emit(event, arg),
      lost: (err: Error) => this.emitLossOnce(err),
      // etcd3's private field, set by its grant and keepaliveOnce too.
      get lastKeepAlive() {
        return self.lastKeepAlive;
      },
      set lastKeepAlive(ms: number) {
        self.lastKeepAlive = ms;
      },
    };
    this.loop = new KeepaliveLoop(pool, host);
    const hooks = leaseHooks(this);
    hooks.replace('keepalive', () => () => this.loop.start());
    hooks.replace('close', base => () => {
      this.loop.stop();
      base();
      this.ownership.end(this.ending);
    });
    hooks.replace('emitLoss', () => (err: Error) => this.emitLossOnce(err));
    // etcd3 reads the grant's answer first (and starts the keepalive if asked to).
    this.grant().then(
      id => {
        if (!this.revoked()) {
          this.loop.granted(String(id), sentAt, ttl, monotonicNow() - sentAt);
        }
      },
      () => undefined, // etcd3 has emitted `lost` already
    );
  }

  /** Aborted when the lease ends: lost (reason: the error) or revoked/released/closed. */
  get signal(): AbortSignal {
    return this.ownership.signal;
  }

  /**
   * Fires once when the lease is lost (the same moment as etcd3's `lost` event), not on
   * `revoke()` or `release()`. Listener errors are logged and dropped.
   */
  get onLost(): Event<Error> {
    return this.ownership.onLost;
  }

  /**
   * ms until this lease must be considered lost (negative once passed; `NaN` before the
   * grant): the holder's bound on etcd's expiry minus the safety margin.
   */
  remainingMs(): number {
    const ms = this.loop.remainingMs;
    return Number.isFinite(ms) ? ms : NaN;
  }

  /**
   * URL of the endpoint carrying the keepalive stream (with our pool), when known. For
   * diagnostics and tests.
   */
  get keepaliveEndpoint(): string | undefined {
    const url = (this.loop.resource as { url?: unknown } | undefined)?.url;
    return typeof url === 'string' ? url : undefined;
  }

  /** Keepalive streams opened so far (1 normally; more after failovers and hedges). */
  get keepaliveStreamsOpened(): number {
    return this.loop.streamsOpened;
  }

  /** The safety margin kept before etcd's earliest expiry, ms: `max(100, 5 % of TTL)`. */
  get safetyMarginMs(): number {
    return safetyMarginMs(this.loop.bound.ttlMs);
  }

  /** etcd3's `revoke()`; the signal is aborted with an `OwnershipEndedError('revoked')`. */
  override revoke(options?: Parameters<Lease['revoke']>[0]): Promise<void> {
    this.ending = 'revoked';
    return super.revoke(options);
  }

  /** etcd3's `release()`; the signal is aborted with an `OwnershipEndedError('released')`. */
  override release(): void {
    this.ending = 'released';
    super.release();
  }

  /**
   * etcd3's `keepaliveOnce()`; an answer also extends the expiry bound. If the lease
   * was already lost and etcd says so again (TTL 0), it rejects with the error `lost`
   * carried: `lost` fires once, and the rejection is that loss (etcd3 would emit
   * `lost` a second time with a new error and throw that one).
   */
  override async keepaliveOnce(
    options?: Parameters<Lease['keepaliveOnce']>[0],
  ): Promise<ILeaseKeepAliveResponse> {
    const sentAt = monotonicNow();
    let res: ILeaseKeepAliveResponse;
    try {
      res = await super.keepaliveOnce(options);
    } catch (err) {
      const lost = this.ownership.lost;
      throw err instanceof EtcdLeaseInvalidError && lost instanceof EtcdLeaseInvalidError
        ? lost
        : err;
    }
    this.loop.acknowledged(sentAt, Number(res.TTL));
    return res;
  }

  /** @internal Stops the keepalive because the client closes (signal reason `closed`). */
  endWithClient(): void {
    if (!this.revoked()) {
      this.ending = 'closed';
      super.release();
    }
  }

  private emitLossOnce(err: Error): void {
    if (this.ownership.ended) {
      return;
    }
    this.loop.stop();
    // Abort and notify first, then etcd3's own teardown and `lost` event.
    this.ownership.lose(err);
    leaseHooks(this).base('emitLoss')(err);
  }
}
