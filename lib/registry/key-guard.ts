/**
 * Self-healing: watches one attached key and, when someone else deletes or
 * overwrites it while our lease lives, asks the lease to put it back. While the
 * key is withdrawn and kept as a tombstone, it deletes a late copy of our own put. A watch
 * that fails (compaction, cancel) is re-created and the key re-read.
 */
import type { IKeyValue, Namespace, Watcher } from 'etcd3';
import type { Logger } from '../logger';
import type { DurableLease } from './durable-lease';
import type { KeyHealCause } from './leased-keys';
import { Backoff, type BackoffOptions } from '../policy/backoff';
import { describeError } from '../policy/describe-error';

/** Heals closer together than this form a streak. */
const CONTEST_WINDOW_MS = 10_000;
/** From this many heals in a streak on, the key is contested (duplicate id?): heals back off. */
const CONTEST_STREAK = 3;

/**
 * Guards `key` on behalf of `lease`. Events older than our own last write of the
 * key (by revision) are ignored; so are events while the lease is not alive (the
 * lease re-writes every key itself once it is granted again).
 */
export class KeyGuard {
  private watcher: Watcher | undefined;
  private stopped = false;
  private readonly watchBackoff: Backoff;
  private readonly healBackoff: Backoff;
  private lastHealAt = -Infinity;
  private streak = 0;
  private healTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Namespace,
    private readonly key: string,
    private readonly lease: DurableLease,
    private readonly log: Logger,
    backoff: BackoffOptions,
  ) {
    this.watchBackoff = new Backoff(backoff);
    this.healBackoff = new Backoff({ initialDelayMs: 200, maxDelayMs: 10_000 });
  }

  /** Starts watching (retrying until it succeeds or {@link stop}). */
  start(): void {
    void this.watch();
  }

  /** Stops watching. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.healTimer);
    clearTimeout(this.retryTimer);
    const w = this.watcher;
    this.watcher = undefined;
    w?.removeAllListeners();
    w?.on('error', () => undefined);
    void w?.cancel().catch(() => undefined);
  }

  /** Judges one observed state of the key (from a watch event or a read). */
  observe(
    kv: Pick<IKeyValue, 'value' | 'lease' | 'mod_revision'> | undefined,
    revision: number,
  ): void {
    const st = this.lease.keyState(this.key);
    const leaseId = this.lease.leaseId;
    if (st?.tombstone) {
      // Withdrawn, but a put of ours with an unknown outcome may still land: if the
      // key reappears under our lease after our delete, delete it again.
      if (
        !this.stopped &&
        kv &&
        leaseId !== undefined &&
        String(kv.lease) === leaseId &&
        revision > st.revision
      ) {
        this.lease.reappeared(this.key, Number(kv.mod_revision));
      }
      return;
    }
    if (
      this.stopped ||
      !st ||
      st.desired !== 'present' ||
      leaseId === undefined ||
      st.writtenLeaseId !== leaseId
    ) {
      return; // not ours to guard right now, or a write of ours is pending anyway
    }
    if (revision <= st.revision) {
      return; // older than our own last write
    }
    if (kv && kv.value.toString() === st.value && String(kv.lease) === leaseId) {
      return; // that is our record
    }
    this.scheduleHeal(kv ? 'overwritten' : 'deleted');
  }

  private scheduleHeal(cause: KeyHealCause): void {
    if (this.healTimer) {
      return; // one heal at a time
    }
    const now = Date.now();
    this.streak = now - this.lastHealAt < CONTEST_WINDOW_MS ? this.streak + 1 : 1;
    const contested = this.streak >= CONTEST_STREAK;
    const delayMs = contested ? this.healBackoff.next() : 0;
    if (!contested) {
      this.healBackoff.reset();
    } else {
      this.log.warn(
        { key: this.key, cause, delayMs },
        'key keeps being changed by someone else (duplicate instance id?)',
      );
    }
    this.lastHealAt = now;
    this.healTimer = setTimeout(() => {
      this.healTimer = undefined;
      this.lease.heal(this.key, cause);
    }, delayMs);
    this.healTimer.unref?.();
  }

  private async watch(): Promise<void> {
    if (this.stopped) {
      return;
    }
    let watcher: Watcher;
    try {
      watcher = await this.client.watch().key(this.key).create();
    } catch (err) {
      this.retry(err);
      return;
    }
    if (this.stopped) {
      void watcher.cancel().catch(() => undefined);
      return;
    }
    this.watcher = watcher;
    watcher.on('put', kv => this.observe(kv, Number(kv.mod_revision)));
    watcher.on('delete', kv => this.observe(undefined, Number(kv.mod_revision)));
    watcher.on('error', err => {
      // etcd3 gives up on this watcher (compaction, cancel): make a new one and re-read.
      if (this.watcher === watcher) {
        this.watcher = undefined;
        void watcher.cancel().catch(() => undefined);
        this.retry(err);
      }
    });
    this.watchBackoff.reset();
    await this.reconcile();
  }

  private retry(err: unknown): void {
    const delayMs = this.watchBackoff.next();
    this.log.debug(
      { key: this.key, err: describeError(err), delayMs },
      'watch of own key failed; re-creating',
    );
    this.retryTimer = setTimeout(() => void this.watch(), delayMs);
    this.retryTimer.unref?.();
  }

  /** Reads the key once, for changes made while no watch was running. */
  private async reconcile(): Promise<void> {
    try {
      const res = await this.client.get(this.key).exec();
      const kv = res.kvs[0];
      this.observe(kv, kv ? Number(kv.mod_revision) : Number(res.header.revision));
    } catch (err) {
      this.log.debug({ key: this.key, err: describeError(err) }, 'reading own key failed');
    }
  }
}
