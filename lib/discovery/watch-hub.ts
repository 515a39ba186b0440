/**
 * One etcd Watch stream per connection pool, multiplexing every discovery watch
 * of the process (1,000 services cost one stream, not 1,000).
 *
 * - Watches are created one at a time (etcd answers `created` in request order);
 *   each (re)creation asks its owner for the revision to start from, so after a
 *   reconnect a watch resumes exactly after the last revision its owner applied.
 * - When the stream fails it is re-opened with jittered exponential backoff, on
 *   whichever endpoint the pool picks, and every watch is re-created.
 * - Stall detection: if no response of any kind arrives for the smallest
 *   `stallTimeoutMs` of the attached watches, a progress request is sent; if that
 *   is not answered within `progressTimeoutMs`, the stream is reported to the pool
 *   as UNAVAILABLE (its connection is reset or rebuilt) and re-opened.
 * - Server-side cancels (compaction, errors) are handed to the watch's owner, which
 *   re-lists; the hub forgets that watch.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { ClientClosedError as Etcd3ClientClosedError, type IWatchRequest, type IWatchResponse } from 'etcd3';
import type { Logger } from '../logger';
import { openWatchStream, type OpenedWatchStream } from './etcd3-access';

/** A watch as the hub sees it; implemented by its owner (a discovery). */
export interface WatchTarget {
  /** First key of the range, namespace included. */
  readonly key: Buffer;
  /** End of the range (exclusive), namespace included. */
  readonly rangeEnd: Buffer;
  /** Revision to (re)start from; asked each time the watch is created. */
  startRevision(): number;
  /** A response with events, or a per-watch progress notification (no events). */
  onResponse(res: IWatchResponse): void;
  /** The server cancelled the watch (compaction, error); the hub has forgotten it. */
  onCanceled(res: IWatchResponse): void;
  /** The stream broke or stalled; the watch will be re-created on a new stream. */
  onDisconnected(err: Error): void;
}

/** Timing of one attached watch; the hub uses the smallest values. */
export interface WatchTiming {
  readonly stallTimeoutMs: number;
  readonly progressTimeoutMs: number;
}

/** Counters, for tests and the scale script. */
export interface WatchHubStats {
  /** Streams opened so far. */
  streamsOpened: number;
  /** 1 while a stream is open, else 0. */
  streamsOpen: number;
  /** Watches attached (created or waiting to be). */
  watches: number;
  progressRequests: number;
  stalls: number;
  /** Stream failures (including stalls). */
  failures: number;
}

/** Options of a hub; fixed by the first discovery that uses the pool. */
export interface WatchHubOptions {
  readonly requireLeader: boolean;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly logger: Logger;
}

const enum Phase {
  Idle,
  Opening,
  Open,
  Waiting,
  Closed,
}

interface Sub {
  readonly target: WatchTarget;
  readonly timing: WatchTiming;
  /** etcd's watch id while created on the current stream, else null. */
  id: string | null;
  detached: boolean;
}

/** A watch attached to a hub. */
export interface HubWatch {
  /** Cancels the watch (idempotent). */
  detach(): void;
}

const PROGRESS_WATCH_ID = '-1';
const noop = () => undefined;

export class WatchHub {
  private phase = Phase.Idle;
  /** Grows on every stream open and teardown; callbacks of older streams are ignored. */
  private generation = 0;
  /** The open stream; defined iff phase === Open. */
  private current: OpenedWatchStream | undefined;
  private readonly subs = new Set<Sub>();
  /** Watches waiting to be created; `queue[0]` is in flight iff `creating`. */
  private queue: Sub[] = [];
  private creating = false;
  private readonly byId = new Map<string, Sub>();
  private backoffFactory: ExponentialBackoff<unknown>;
  private backoff: IBackoff<unknown>;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  /** `Date.now()` when the unanswered progress request was sent, if one is. */
  private probeSentAt: number | undefined;
  private readonly log: Logger;
  private readonly counters: WatchHubStats = {
    streamsOpened: 0, streamsOpen: 0, watches: 0, progressRequests: 0, stalls: 0, failures: 0,
  };

  constructor(
    private readonly pool: object,
    private readonly options: WatchHubOptions,
  ) {
    this.log = options.logger.child({ component: 'watch-hub' });
    this.backoffFactory = new ExponentialBackoff({
      initialDelay: options.retryInitialDelayMs,
      maxDelay: options.retryMaxDelayMs,
    });
    this.backoff = this.backoffFactory.next();
  }

  /** A copy of the counters. */
  stats(): WatchHubStats {
    return { ...this.counters, watches: this.subs.size, streamsOpen: this.phase === Phase.Open ? 1 : 0 };
  }

  /** Adds a watch; it is created on the stream (opened if needed) from `target.startRevision()`. */
  attach(target: WatchTarget, timing: WatchTiming): HubWatch {
    const sub: Sub = { target, timing, id: null, detached: false };
    this.subs.add(sub);
    this.queue.push(sub);
    if (this.phase === Phase.Idle) {
      this.open();
    } else if (this.phase === Phase.Open) {
      this.sendNextCreate();
    }
    return { detach: () => this.detach(sub) };
  }

  private detach(sub: Sub): void {
    if (sub.detached) {
      return;
    }
    sub.detached = true;
    this.subs.delete(sub);
    if (sub.id !== null) {
      this.byId.delete(sub.id);
      this.write({ cancel_request: { watch_id: sub.id } });
      sub.id = null;
    } else {
      const i = this.queue.indexOf(sub);
      // The watch in flight stays queued until its `created` answer, then is cancelled.
      if (i > 0 || (i === 0 && !this.creating)) {
        this.queue.splice(i, 1);
      }
    }
    if (this.subs.size === 0 && this.phase !== Phase.Closed) {
      this.teardown();
      this.phase = Phase.Idle;
    }
  }

  private open(): void {
    this.phase = Phase.Opening;
    const gen = ++this.generation;
    openWatchStream(this.pool, this.options.requireLeader).then(
      opened => {
        if (gen !== this.generation || this.subs.size === 0) {
          opened.stream.on('error', noop);
          opened.stream.cancel();
          return;
        }
        this.current = opened;
        this.phase = Phase.Open;
        this.counters.streamsOpened++;
        opened.stream
          .on('data', (res: IWatchResponse) => this.onData(gen, res))
          .on('error', (err: Error) => this.fail(gen, err, true))
          .on('end', () => this.fail(gen, new Error('etcd ended the watch stream'), false));
        this.lastActivity = Date.now();
        this.probeSentAt = undefined;
        this.scheduleStallCheck(gen, this.timing().stallTimeoutMs);
        this.creating = false;
        this.sendNextCreate();
      },
      err => this.fail(gen, err instanceof Error ? err : new Error(String(err)), false),
    );
  }

  private onData(gen: number, res: IWatchResponse): void {
    if (gen !== this.generation) {
      return;
    }
    this.lastActivity = Date.now();
    this.probeSentAt = undefined;
    if (res.created) {
      this.onCreated(res);
      return;
    }
    const id = String(res.watch_id);
    if (id === PROGRESS_WATCH_ID) {
      return; // answer to our progress request: the stream is alive
    }
    const sub = this.byId.get(id);
    if (!sub) {
      return; // a late message for a watch we cancelled
    }
    if (res.canceled) {
      this.forget(sub);
      this.guard(() => sub.target.onCanceled(res));
      return;
    }
    this.guard(() => sub.target.onResponse(res));
  }

  private onCreated(res: IWatchResponse): void {
    const sub = this.creating ? this.queue.shift() : undefined;
    this.creating = false;
    if (!sub) {
      this.log.warn({ watchId: res.watch_id }, 'created answer for no pending watch; ignored');
    } else if (res.canceled) {
      // etcd refused to create it (e.g. a compacted start revision on some versions).
      if (!sub.detached) {
        this.forget(sub);
        this.guard(() => sub.target.onCanceled(res));
      }
    } else if (sub.detached) {
      this.write({ cancel_request: { watch_id: res.watch_id } });
    } else {
      sub.id = String(res.watch_id);
      this.byId.set(sub.id, sub);
      this.backoff = this.backoffFactory.next();
    }
    this.sendNextCreate();
  }

  /** Forgets a watch the server cancelled. */
  private forget(sub: Sub): void {
    sub.detached = true;
    this.subs.delete(sub);
    if (sub.id !== null) {
      this.byId.delete(sub.id);
      sub.id = null;
    }
    if (this.subs.size === 0 && this.phase !== Phase.Closed) {
      this.teardown();
      this.phase = Phase.Idle;
    }
  }

  private sendNextCreate(): void {
    if (this.phase !== Phase.Open || this.creating) {
      return;
    }
    while (this.queue.length > 0 && this.queue[0]!.detached) {
      this.queue.shift();
    }
    const sub = this.queue[0];
    if (!sub) {
      return;
    }
    this.creating = true;
    const rev = sub.target.startRevision();
    this.write({
      create_request: {
        key: sub.target.key,
        range_end: sub.target.rangeEnd,
        start_revision: rev > 0 ? String(rev) : undefined,
        progress_notify: true,
      },
    });
  }

  /** Tears down the current stream and, unless no watch is left, re-opens one after a backoff. */
  private fail(gen: number, err: Error, reportToPool: boolean): void {
    if (gen !== this.generation || this.phase === Phase.Closed) {
      return;
    }
    const opened = this.current;
    this.teardown();
    this.counters.failures++;
    if (reportToPool && opened) {
      opened.markFailed(err);
    }
    for (const sub of this.subs) {
      sub.id = null;
      this.guard(() => sub.target.onDisconnected(err));
    }
    this.queue = [...this.subs];
    if (err instanceof Etcd3ClientClosedError) {
      this.log.warn('etcd client closed; discovery watches stopped');
      this.phase = Phase.Closed;
      return;
    }
    if (this.subs.size === 0) {
      this.phase = Phase.Idle;
      return;
    }
    const delay = this.backoff.duration;
    this.backoff = this.backoff.next(undefined) ?? this.backoff;
    this.log.info({ err: err.message, retryInMs: Math.round(delay), watches: this.subs.size }, 'watch stream failed; re-opening');
    this.phase = Phase.Waiting;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.phase === Phase.Waiting) {
        this.open();
      }
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Cancels the current stream quietly and clears timers and per-stream state. */
  private teardown(): void {
    this.generation++;
    const opened = this.current;
    this.current = undefined;
    if (opened) {
      opened.stream.on('error', noop);
      opened.stream.cancel();
    }
    clearTimeout(this.stallTimer);
    clearTimeout(this.reconnectTimer);
    this.stallTimer = this.reconnectTimer = undefined;
    this.probeSentAt = undefined;
    this.byId.clear();
    this.creating = false;
  }

  private scheduleStallCheck(gen: number, delayMs: number): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this.checkStall(gen), Math.max(1, delayMs));
    this.stallTimer.unref();
  }

  private checkStall(gen: number): void {
    if (gen !== this.generation || this.phase !== Phase.Open) {
      return;
    }
    const { stallTimeoutMs, progressTimeoutMs } = this.timing();
    const now = Date.now();
    if (this.probeSentAt !== undefined) {
      const waited = now - this.probeSentAt;
      if (waited < progressTimeoutMs) {
        this.scheduleStallCheck(gen, progressTimeoutMs - waited);
        return;
      }
      this.counters.stalls++;
      const idleMs = now - this.lastActivity;
      this.log.warn({ idleMs, watches: this.subs.size }, 'watch stream stalled (progress request unanswered); re-opening it');
      const err = Object.assign(
        new Error(`14 UNAVAILABLE: etcd watch stream stalled: no answer to a progress request within ${progressTimeoutMs} ms`),
        { code: 14, details: 'etcd watch stream stalled' },
      );
      this.fail(gen, err, true);
      return;
    }
    const idle = now - this.lastActivity;
    if (idle < stallTimeoutMs) {
      this.scheduleStallCheck(gen, stallTimeoutMs - idle);
      return;
    }
    this.probeSentAt = now;
    this.counters.progressRequests++;
    this.log.debug({ idleMs: idle }, 'watch stream quiet; sending a progress request');
    this.write({ progress_request: {} });
    this.scheduleStallCheck(gen, progressTimeoutMs);
  }

  private timing(): WatchTiming {
    let stallTimeoutMs = Infinity;
    let progressTimeoutMs = Infinity;
    for (const s of this.subs) {
      stallTimeoutMs = Math.min(stallTimeoutMs, s.timing.stallTimeoutMs);
      progressTimeoutMs = Math.min(progressTimeoutMs, s.timing.progressTimeoutMs);
    }
    return {
      stallTimeoutMs: Number.isFinite(stallTimeoutMs) ? stallTimeoutMs : 30_000,
      progressTimeoutMs: Number.isFinite(progressTimeoutMs) ? progressTimeoutMs : 5_000,
    };
  }

  private write(req: IWatchRequest): void {
    if (this.phase !== Phase.Open || !this.current) {
      return;
    }
    try {
      this.current.stream.write(req);
    } catch (err) {
      this.fail(this.generation, err instanceof Error ? err : new Error(String(err)), false);
    }
  }

  /** Runs an owner callback; an exception there must not break the stream. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'watch callback threw');
    }
  }
}

const hubs = new WeakMap<object, Map<boolean, WatchHub>>();

/** The hub of `pool` (one per pool and `requireLeader` setting), created on first use. */
export function watchHubFor(pool: object, options: WatchHubOptions): WatchHub {
  let byLeader = hubs.get(pool);
  if (!byLeader) {
    byLeader = new Map();
    hubs.set(pool, byLeader);
  }
  let hub = byLeader.get(options.requireLeader);
  if (!hub) {
    hub = new WatchHub(pool, options);
    byLeader.set(options.requireLeader, hub);
  }
  return hub;
}

/** Counters of the hubs of `pool`, summed; zeros if it has none. */
export function watchHubStats(pool: object): WatchHubStats {
  const total: WatchHubStats = { streamsOpened: 0, streamsOpen: 0, watches: 0, progressRequests: 0, stalls: 0, failures: 0 };
  for (const hub of hubs.get(pool)?.values() ?? []) {
    const s = hub.stats();
    for (const k of Object.keys(total) as Array<keyof WatchHubStats>) {
      total[k] += s[k];
    }
  }
  return total;
}
