/**
 * An etcd3 `ElectionObserver` that reports every term, in revision order.
 *
 * etcd3's observer reads the leader, watches that one key and re-reads when it is
 * deleted: it reports `change` only when the leader's *value* differs (a new term with
 * the same value is silent), and leaders that come and go between the delete and the
 * re-read are skipped. This one lists every candidate key at revision R, then watches
 * the whole election prefix from R + 1 on the client's shared watch stream (which
 * resumes exactly after the last revision applied, across reconnects) and applies
 * every event in order. After each revision (etcd applies a transaction atomically, so
 * a resign and a campaign in one revision are one step) the leader — the key with the
 * lowest create revision — is compared with the previous one. If etcd compacted the
 * history the watch needed, the election is listed again and {@link onGap} fires
 * before the new state.
 */
import { ClientClosedError, ElectionObserver, type IWatchResponse, type Namespace } from 'etcd3';
import { Emitter, type Event } from '../events';
import { noopLogger, type Logger } from '../logger';
import { Backoff } from '../policy/backoff';
import { describeError } from '../policy/describe-error';
import { namespacePrefixOf, poolOf, prefixEnd } from '../internals/etcd3';
import { watchHubFor } from '../watch/hub-registry';
import { DEFAULT_WATCH_TIMING, type HubWatch, type WatchHub } from '../watch/watch-hub';

/** Payload of {@link OwnedElectionObserver.onLeader}: one leader (or none), with its term. */
export interface ElectionLeader {
  /** The leader's value as UTF-8; undefined when the election has no leader. */
  readonly value: string | undefined;
  /** The leader's etcd key, namespace included (as `campaign.getCampaignKey()`); undefined without leader. */
  readonly key: string | undefined;
  /**
   * The leader key's create revision, as a decimal string: the term's fencing token
   * (every new term, even with the same value, has a greater one). Undefined without leader.
   */
  readonly createRevision: string | undefined;
  /** The etcd revision at which this leader was observed (a decimal string). */
  readonly revision: string;
}

/** Payload of {@link OwnedElectionObserver.onGap}: history the observer could not see. */
export interface ElectionGap {
  /** First revision whose events were not seen (a decimal string). */
  readonly fromRevision: string;
  /** Revision of the new listing; changes up to it were not seen one by one. */
  readonly toRevision: string;
  /** Why, e.g. `compacted (compact revision 1234)`. */
  readonly reason: string;
}

interface Candidate {
  readonly value: Buffer;
  readonly createRevision: string;
  readonly created: number;
}

const RETRY_INITIAL_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * The observer returned by `client.election(name).observe()`: an etcd3
 * `ElectionObserver` (same `change`/`error` events, `leader()`, `hasLeader`,
 * `cancel()`) that reports every leadership change:
 * - `change` fires with the new leader's value whenever the leader key, its create
 *   revision (a new term, even with the same value) or its value (`proclaim()`)
 *   changes, once per etcd revision, in revision order; with undefined when the
 *   election has no leader. The first `change` carries the leader at the time of the
 *   first read (etcd3's first one is always undefined);
 * - {@link onLeader} fires with every `change`, with the term's key and create revision;
 * - {@link onGap} fires when the history was compacted while the observer was behind.
 *
 * `error` is emitted only if the first read fails (then `observe()` rejects) or the
 * client is closed, and only if someone listens. Nothing is emitted after `cancel()`.
 * A listener that throws is logged and ignored (the library's one listener rule).
 */
export class OwnedElectionObserver extends ElectionObserver {
  /** Fires with each leader (or none) in revision order, with its term; see {@link ElectionLeader}. */
  public readonly onLeader: Event<ElectionLeader>;
  /** Fires when etcd compacted history the observer needed; the new state follows. */
  public readonly onGap: Event<ElectionGap>;

  /** Every candidate key (relative to the election prefix, latin1) at {@link applied}. */
  private readonly candidates = new Map<string, Candidate>();
  /** Relative key of the leader reported last; undefined iff none (or nothing reported yet). */
  private leaderKey: string | undefined;
  private leaderCandidate: Candidate | undefined;
  /** Highest revision whose events are all applied; the watch resumes at + 1. */
  private applied = 0;
  private reported = false;
  private stopped = false;
  private watch: HubWatch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly prefix: Buffer;
  private readonly hub: WatchHub;
  private readonly leaders: Emitter<ElectionLeader>;
  private readonly gaps: Emitter<ElectionGap>;

  /** @internal Use `election.observe()`. */
  constructor(
    private readonly ns: Namespace,
    private readonly log: Logger = noopLogger,
  ) {
    super(ns); // etcd3's loop is replaced by a no-op (see below): nothing is read yet
    this.prefix = namespacePrefixOf(ns);
    this.hub = watchHubFor(poolOf(ns), {
      requireLeader: true,
      retryInitialDelayMs: RETRY_INITIAL_MS,
      retryMaxDelayMs: RETRY_MAX_MS,
      logger: log,
    });
    this.leaders = new Emitter('leader', log);
    this.gaps = new Emitter('gap', log);
    this.onLeader = this.leaders.event;
    this.onGap = this.gaps.event;
    void this.list(undefined);
  }

  /** Whether the election has a leader. */
  override get hasLeader(): boolean {
    return this.leaderCandidate !== undefined;
  }

  /**
   * The leader's value (passed to `campaign()` or `proclaim()`), or undefined if there
   * is none; `'buffer'` returns a Buffer.
   */
  override leader(encoding?: BufferEncoding): string | undefined;
  override leader(encoding: 'buffer'): Buffer | undefined;
  override leader(encoding: BufferEncoding | 'buffer' = 'utf-8'): string | Buffer | undefined {
    const value = this.leaderCandidate?.value;
    if (value === undefined) {
      return undefined;
    }
    return encoding === 'buffer' ? value : value.toString(encoding);
  }

  /** Stops observing. No event is emitted afterwards. Idempotent. */
  override async cancel(): Promise<void> {
    this.stopped = true;
    this.watch?.detach();
    this.watch = undefined;
    clearTimeout(this.retryTimer);
  }

  /** Lists every candidate at one revision, reports the leader, then watches from + 1. */
  private async list(reason: string | undefined): Promise<void> {
    const backoff = new Backoff({ initialDelayMs: RETRY_INITIAL_MS, maxDelayMs: RETRY_MAX_MS });
    while (!this.stopped) {
      let res;
      try {
        res = await this.ns.getAll().sort('Create', 'Ascend').exec();
      } catch (err) {
        if (this.stopped) {
          return;
        }
        if (!this.reported || err instanceof ClientClosedError) {
          this.fail(err); // as etcd3: the first read's error rejects observe()
          return;
        }
        const delayMs = backoff.next();
        this.log.warn({ err, retryInMs: Math.round(delayMs) }, 'election listing failed; retrying');
        await new Promise<void>(r => (this.retryTimer = setTimeout(r, delayMs).unref()));
        continue;
      }
      if (this.stopped) {
        return;
      }
      const revision = Number(res.header.revision);
      if (reason !== undefined) {
        const gap = {
          fromRevision: String(this.applied + 1),
          toRevision: String(revision),
          reason,
        };
        this.log.warn(gap, 'election history skipped; listed again');
        this.gaps.emit(gap);
        if (this.stopped) {
          return;
        }
      }
      this.candidates.clear();
      for (const kv of res.kvs) {
        this.candidates.set(kv.key.toString('latin1'), candidate(kv));
      }
      this.applied = revision;
      this.report(revision);
      if (this.stopped) {
        return;
      }
      this.watch = this.hub.attach(
        {
          key: this.prefix,
          rangeEnd: prefixEnd(this.prefix),
          startRevision: () => this.applied + 1,
          onResponse: r => this.onResponse(r),
          onCanceled: r => this.onCanceled(r),
          onDisconnected: err => this.onDisconnected(err),
        },
        DEFAULT_WATCH_TIMING,
      );
      return;
    }
  }

  private onResponse(res: IWatchResponse): void {
    if (this.stopped) {
      return;
    }
    if (res.events.length === 0) {
      // A progress notification: every event up to the header revision was delivered.
      this.applied = Math.max(this.applied, Number(res.header?.revision ?? 0));
      return;
    }
    let pending = 0; // revision whose events are applied but not yet reported
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.applied) {
        continue; // already applied (a re-created watch may repeat a revision)
      }
      if (pending !== 0 && rev !== pending) {
        this.applied = pending;
        this.report(pending);
        if (this.stopped) {
          return;
        }
      }
      pending = rev;
      const key = ev.kv.key.subarray(this.prefix.length).toString('latin1');
      if (String(ev.type).toUpperCase() === 'DELETE') {
        this.candidates.delete(key);
      } else {
        this.candidates.set(key, candidate(ev.kv));
      }
    }
    if (pending !== 0) {
      this.applied = pending;
      this.report(pending);
    }
  }

  private onCanceled(res: IWatchResponse): void {
    this.watch = undefined;
    if (this.stopped) {
      return;
    }
    const compacted = Number(res.compact_revision ?? 0);
    void this.list(
      compacted > 0
        ? `compacted (compact revision ${compacted}, needed ${this.applied + 1})`
        : `watch cancelled by etcd: ${res.cancel_reason || 'no reason given'}`,
    );
  }

  private onDisconnected(err: Error): void {
    if (this.stopped) {
      return;
    }
    if (err instanceof ClientClosedError) {
      this.fail(err);
      return;
    }
    this.emitSafely('disconnected', err); // etcd3 declares this event; the hub resumes
    // A closed client's pool leaves the hub's re-open pending forever (quietly); ask
    // the client itself, whose calls reject with ClientClosedError once it is closed.
    this.ns
      .getAll()
      .count()
      .catch(e => {
        if (e instanceof ClientClosedError && !this.stopped) {
          this.fail(e);
        }
      });
  }

  /** Emits `change` and {@link onLeader} if the leader (key, term or value) changed. */
  private report(revision: number): void {
    let key: string | undefined;
    let next: Candidate | undefined;
    for (const [k, c] of this.candidates) {
      if (!next || c.created < next.created) {
        key = k;
        next = c;
      }
    }
    const prev = this.leaderCandidate;
    if (
      this.reported &&
      key === this.leaderKey &&
      next?.createRevision === prev?.createRevision &&
      (next === undefined || next.value.equals(prev!.value))
    ) {
      return;
    }
    this.reported = true;
    this.leaderKey = key;
    this.leaderCandidate = next;
    const value = next?.value.toString();
    this.emitSafely('change', value);
    if (this.stopped) {
      return;
    }
    this.leaders.emit({
      value,
      key:
        key === undefined
          ? undefined
          : Buffer.concat([this.prefix, Buffer.from(key, 'latin1')]).toString(),
      createRevision: next?.createRevision,
      revision: String(revision),
    });
  }

  private fail(err: unknown): void {
    this.stopped = true;
    this.watch?.detach();
    this.watch = undefined;
    if (this.listenerCount('error') > 0) {
      this.emitSafely('error', err);
    } else {
      this.log.warn({ err }, 'election observer stopped');
    }
  }

  /**
   * etcd3's string events, under the library's one listener rule (lib/events.ts): each
   * listener runs in its own try/catch; one that throws is logged at error and
   * dropped, and neither stops the other listeners nor reaches the observer's state
   * or the host (etcd3 turns it into an `error` event, fatal without a listener).
   */
  private emitSafely(event: string, ...args: unknown[]): void {
    if (this.stopped && event !== 'error') {
      return;
    }
    for (const listener of this.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        try {
          this.log.error(
            { event: `election.${event}`, err: describeError(err) },
            'event listener threw; ignored',
          );
        } catch {
          // A broken logger must not break the observer either.
        }
      }
    }
  }
}

function candidate(kv: { value: Buffer; create_revision: string }): Candidate {
  return {
    value: kv.value,
    createRevision: String(kv.create_revision),
    created: Number(kv.create_revision),
  };
}

// etcd3's constructor starts its private `loop()` (read the leader, watch one key);
// ours replaces it, so that nothing is read twice. If etcd3 renames it, its loop
// would run beside ours unseen: test/lease/election-observer.test.ts checks the shape.
Object.defineProperty(OwnedElectionObserver.prototype, 'loop', {
  value: () => Promise.resolve(),
  configurable: true,
  writable: true,
});
