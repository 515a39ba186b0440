/**
 * etcd3's `Lock` held by an {@link OwnedLease}: it knows when it can no longer be sure
 * to hold the lock, and carries a fencing token for the protected resource.
 */
import {
  ComparatorBuilder,
  DeleteBuilder,
  EtcdLockFailedError,
  KVClient,
  Lock,
  PutBuilder,
} from 'etcd3';
import type { Event } from '../events';
import type { Logger } from '../logger';
import { describeError } from '../policy/describe-error';
import { keyArgument } from './lease-args';
import { OwnedLease } from './owned-lease';
import type { LeaseFactory } from './owned-namespace';
import { Ownership } from './ownership';

/** Attempts to delete a lost lock's key (each bounded by the client's call deadline). */
const CLEANUP_ATTEMPTS = 3;
/** Pause between cleanup attempts, ms. */
const CLEANUP_PAUSE_MS = 1000;

/**
 * A drop-in etcd3 `Lock` (`acquire()`, `release()`, `do()`, `ttl()`, `leaseId()` as in
 * etcd3) with, after `acquire()`:
 *
 * - {@link signal}: aborted when ownership can no longer be guaranteed (the lease's
 *   bound on etcd's expiry minus the safety margin passed, or etcd said it is gone;
 *   reason: etcd3's `EtcdLeaseInvalidError`) or when released (reason:
 *   `OwnershipEndedError('released')`);
 * - {@link onLost}: fires once on an involuntary loss;
 * - {@link fencingToken}: the lock key's create revision, strictly increasing across
 *   successive holders of the same key; compare it where the protected data lives.
 *
 * A lock whose lease is lost is released: its lease revoked and its key deleted (only
 * if still the one this holder created) when etcd is reachable.
 *
 * @example
 * ```ts
 * const lock = await client.lock('jobs/nightly').ttl(3).acquire();
 * lock.onLost(err => log.warn({ err }, 'lock lost'));
 * await runJob({ signal: lock.signal, fencingToken: lock.fencingToken });
 * await lock.release();
 * ```
 */
export class OwnedLock extends Lock {
  private ownership: Ownership;
  private token: string | undefined;

  /** @internal Use `client.lock(key)`. */
  constructor(
    private readonly lockPool: any,
    private readonly lockNamespace: any,
    private readonly lockKey: string | Buffer,
    private readonly log?: Logger,
    private readonly newLease: LeaseFactory = (pool, ns, ttl, options) =>
      new OwnedLease(pool, ns, ttl, options, log),
  ) {
    super(lockPool, lockNamespace, keyArgument(lockKey, 'key')); // before any I/O
    this.ownership = new Ownership('lock', log);
  }

  /** Aborted when the lock is lost or released; `signal.reason` says why. */
  get signal(): AbortSignal {
    return this.ownership.signal;
  }

  /** Fires once if the lock is lost (not on `release()`), with the cause. */
  get onLost(): Event<Error> {
    return this.ownership.onLost;
  }

  /**
   * The lock key's create revision (a decimal string) once acquired, else undefined.
   * Strictly increasing across successive holders of this key: compare it as a number
   * (`BigInt`), not as a string.
   */
  get fencingToken(): string | undefined {
    return this.token;
  }

  /**
   * etcd3's `acquire()`: grants a lease and creates the key under it if nobody holds
   * it; rejects with `EtcdLockFailedError` otherwise.
   */
  override async acquire(): Promise<this> {
    if (this.ownership.ended) {
      this.ownership = new Ownership('lock', this.log);
    }
    this.token = undefined;
    const self = this as unknown as { leaseTTL: number; callOptions: any; lease: unknown };
    const lease = this.newLease(this.lockPool, this.lockNamespace, self.leaseTTL);
    self.lease = lease;
    const ownership = this.ownership;
    const leaseID = await lease.grant();
    const kv = new KVClient(this.lockPool);
    const res = await new ComparatorBuilder(kv, this.lockNamespace)
      .and(this.lockKey, 'Create', '==', 0)
      .then(new PutBuilder(kv, this.lockNamespace, this.lockKey).value('').lease(leaseID))
      .options(self.callOptions)
      .commit();
    if (!res.succeeded) {
      await this.release().catch(() => undefined);
      throw new EtcdLockFailedError(`Failed to acquire a lock on ${this.lockKey}`);
    }
    const token = res.header.revision;
    this.token = token;
    const onLost = (err: Error) => {
      ownership.lose(err);
      void this.cleanUp(lease, token);
    };
    if (lease.signal.aborted) {
      onLost(lease.signal.reason as Error);
    } else {
      lease.onLost(onLost);
    }
    return this;
  }

  /** etcd3's `release()`: revokes the lease; the signal is aborted as `released`. */
  override release(): Promise<void> {
    this.ownership.end('released');
    return super.release();
  }

  /** After a loss: revoke the lease and delete our key if it is still ours, best effort. */
  private async cleanUp(lease: OwnedLease, token: string): Promise<void> {
    const kv = new KVClient(this.lockPool);
    for (let i = 0; i < CLEANUP_ATTEMPTS; i++) {
      try {
        await lease.revoke();
        await new ComparatorBuilder(kv, this.lockNamespace)
          .and(this.lockKey, 'Create', '==', token)
          .then(new DeleteBuilder(kv, this.lockNamespace).key(this.lockKey))
          .commit();
        return;
      } catch (err) {
        this.log?.debug({ err: describeError(err) }, 'lost lock: cleanup failed; retrying');
        await new Promise(r => setTimeout(r, CLEANUP_PAUSE_MS).unref());
      }
    }
  }
}
