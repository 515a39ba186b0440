/**
 * Self-healing: watches one attached key and, when someone else deletes or
 * overwrites it while our lease lives, asks the lease to put it back. While the
 * key is withdrawn and kept as a tombstone, it deletes a late copy of our own put.
 *
 * The watch runs on the process-wide watch hub (`lib/watch`), on the same Watch
 * stream as the client's discoveries: the key is read once, then watched from
 * just after that read's revision, and after a reconnect the hub resumes it just
 * after the last revision seen. A watch etcd cancels (compaction, error) is
 * re-created after a backoff, and the key re-read.
 */
import type { IKeyValue, IWatchResponse, Namespace } from 'etcd3';
import type { Logger } from '../logger';
import type { DurableLease } from './durable-lease';
import type { KeyHealCause } from './leased-keys';
import {
  Backoff,
  DEFAULT_INITIAL_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  type BackoffOptions,
} from '../policy/backoff';
import { describeError } from '../policy/describe-error';
import { namespacePrefixOf, poolOf } from '../internals/etcd3';
import { watchHubFor } from '../watch/hub-registry';
import { DEFAULT_WATCH_TIMING, type HubWatch, type WatchHub } from '../watch/watch-hub';

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
  private hub: WatchHub | undefined;
  private watch: HubWatch | undefined;
  /** Highest revision of the key seen (read or watched); a re-created watch resumes after it. */
  private seenRevision = 0;
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
    private readonly backoff: BackoffOptions,
    /** Deadline of the read of the key, in ms: a lost read must not hold the watch back. */
    private readonly readTimeoutMs: number,
  ) {
    this.watchBackoff = new Backoff(backoff);
    this.healBackoff = new Backoff({ initialDelayMs: 200, maxDelayMs: 10_000 });
  }

  /** Starts watching (re-created until {@link stop}). */
  start(): void {
    try {
      // Hub options are fixed by the pool's first user; discoveries pass theirs.
      this.hub = watchHubFor(poolOf(this.client), {
        requireLeader: true,
        retryInitialDelayMs: this.backoff.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS,
        retryMaxDelayMs: this.backoff.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
        logger: this.log,
      });
    } catch (err) {
      this.log.error(
        { key: this.key, err: describeError(err) },
        'cannot watch own key; it is not put back if someone else changes it',
      );
      return;
    }
    void this.begin();
  }

  /** Stops watching. Idempotent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.healTimer);
    clearTimeout(this.retryTimer);
    this.watch?.detach();
    this.watch = undefined;
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

  /**
   * Reads the key (for changes made while no watch ran), then watches it from just
   * after the read's revision, so no change falls between the two. If the read
   * fails the watch starts from now.
   */
  private async begin(): Promise<void> {
    if (this.stopped || !this.hub) {
      return;
    }
    this.seenRevision = 0;
    try {
      const res = await this.client
        .get(this.key)
        .options({ deadline: Date.now() + this.readTimeoutMs })
        .exec();
      const kv = res.kvs[0];
      const revision = Number(res.header.revision);
      this.seenRevision = revision;
      this.observe(kv, kv ? Number(kv.mod_revision) : revision);
    } catch (err) {
      this.log.debug({ key: this.key, err: describeError(err) }, 'reading own key failed');
    }
    if (this.stopped) {
      return;
    }
    const key = Buffer.concat([namespacePrefixOf(this.client), Buffer.from(this.key)]);
    this.watch = this.hub.attach(
      {
        key,
        rangeEnd: Buffer.concat([key, Buffer.from([0])]), // exactly this key
        startRevision: () => (this.seenRevision > 0 ? this.seenRevision + 1 : 0),
        onResponse: res => this.onResponse(res),
        onCanceled: res => this.onCanceled(res),
        onDisconnected: () => undefined, // the hub re-creates the watch after seenRevision
      },
      DEFAULT_WATCH_TIMING,
    );
    this.watchBackoff.reset();
  }

  private onResponse(res: IWatchResponse): void {
    if (this.stopped) {
      return;
    }
    if (res.events.length === 0) {
      // A progress notification: every change up to the header revision was sent.
      this.seenRevision = Math.max(this.seenRevision, Number(res.header?.revision ?? 0));
      return;
    }
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      if (revision <= this.seenRevision) {
        continue; // already seen (a replay after a reconnect, or covered by the read)
      }
      this.seenRevision = revision;
      const isDelete = String(ev.type).toUpperCase() === 'DELETE';
      this.observe(isDelete ? undefined : ev.kv, revision);
    }
  }

  /** etcd cancelled the watch (compaction, error): make a new one and re-read. */
  private onCanceled(res: IWatchResponse): void {
    this.watch = undefined;
    if (this.stopped) {
      return;
    }
    const compacted = Number(res.compact_revision ?? 0);
    this.retry(
      new Error(
        compacted > 0
          ? `compacted (compact revision ${compacted})`
          : `watch cancelled by etcd: ${res.cancel_reason || 'no reason given'}`,
      ),
    );
  }

  private retry(err: unknown): void {
    const delayMs = this.watchBackoff.next();
    this.log.debug(
      { key: this.key, err: describeError(err), delayMs },
      'watch of own key failed; re-creating',
    );
    this.retryTimer = setTimeout(() => void this.begin(), delayMs);
    this.retryTimer.unref?.();
  }
}
