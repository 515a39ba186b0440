/**
 * One etcd Watch stream per connection pool, multiplexing every watch the library
 * makes in the process — discoveries and the registry's key guards (1,000 services
 * cost one stream, not 1,000).
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
import {
  ClientClosedError as Etcd3ClientClosedError,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import type { Logger } from '../logger';
import { Backoff } from '../policy/backoff';
import { openWatchStream, type OpenedWatchStream } from '../internals/etcd3';
import { DEFAULT_WATCH_TIMING, StallDetector, type WatchTiming } from './stall-detector';
import {
  zeroWatchHubStats,
  type HubWatch,
  type WatchHubOptions,
  type WatchHubStats,
  type WatchTarget,
} from './watch-types';

export { DEFAULT_WATCH_TIMING, type WatchTiming } from './stall-detector';
export type { HubWatch, WatchHubOptions, WatchHubStats, WatchTarget } from './watch-types';

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
  /** Delays between stream re-opens; reset once a watch is created on a stream. */
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly stall: StallDetector;
  private readonly log: Logger;
  private readonly counters: WatchHubStats = zeroWatchHubStats();

  constructor(
    private readonly pool: object,
    private readonly options: WatchHubOptions,
  ) {
    this.log = options.logger.child({ component: 'watch-hub' });
    this.backoff = new Backoff({
      initialDelayMs: options.retryInitialDelayMs,
      maxDelayMs: options.retryMaxDelayMs,
    });
    this.stall = new StallDetector(
      () => this.timing(),
      idleMs => {
        this.counters.progressRequests++;
        this.log.debug({ idleMs }, 'watch stream quiet; sending a progress request');
        this.write({ progress_request: {} });
      },
      (idleMs, progressTimeoutMs) => this.stalled(idleMs, progressTimeoutMs),
    );
  }

  /** A copy of the counters. */
  stats(): WatchHubStats {
    return {
      ...this.counters,
      watches: this.subs.size,
      streamsOpen: this.phase === Phase.Open ? 1 : 0,
    };
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
        this.stall.start();
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
    this.stall.activity();
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
      this.backoff.reset();
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
      this.log.warn('etcd client closed; watches stopped');
      this.phase = Phase.Closed;
      return;
    }
    if (this.subs.size === 0) {
      this.phase = Phase.Idle;
      return;
    }
    const delay = this.backoff.next();
    this.log.info(
      { err: err.message, retryInMs: Math.round(delay), watches: this.subs.size },
      'watch stream failed; re-opening',
    );
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
    this.stall.stop();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.byId.clear();
    this.creating = false;
  }

  /** The stream went silent and did not answer a progress request: report it and re-open. */
  private stalled(idleMs: number, progressTimeoutMs: number): void {
    if (this.phase !== Phase.Open) {
      return;
    }
    this.counters.stalls++;
    this.log.warn(
      { idleMs, watches: this.subs.size },
      'watch stream stalled (progress request unanswered); re-opening it',
    );
    const err = Object.assign(
      new Error(
        `14 UNAVAILABLE: etcd watch stream stalled: no answer to a progress request within ${progressTimeoutMs} ms`,
      ),
      { code: 14, details: 'etcd watch stream stalled' },
    );
    this.fail(this.generation, err, true);
  }

  private timing(): WatchTiming {
    let stallTimeoutMs = Infinity;
    let progressTimeoutMs = Infinity;
    for (const s of this.subs) {
      stallTimeoutMs = Math.min(stallTimeoutMs, s.timing.stallTimeoutMs);
      progressTimeoutMs = Math.min(progressTimeoutMs, s.timing.progressTimeoutMs);
    }
    return {
      stallTimeoutMs: Number.isFinite(stallTimeoutMs)
        ? stallTimeoutMs
        : DEFAULT_WATCH_TIMING.stallTimeoutMs,
      progressTimeoutMs: Number.isFinite(progressTimeoutMs)
        ? progressTimeoutMs
        : DEFAULT_WATCH_TIMING.progressTimeoutMs,
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
