/**
 * The watchers of one client: every etcd3 `Watcher` built through the client or
 * any of its namespaces resumes exactly, survives a cluster that went back in time,
 * and is cancelled by `close()`. Only live watchers (and `create()` calls still
 * waiting) are held: a namespace, a builder, a cancelled watcher or one the server
 * ended is never retained.
 */
import { ClientClosedError, type Namespace, type WatchBuilder, type Watcher } from 'etcd3';
import { Emitter, type Event } from './events';
import {
  isAttached,
  patchWatchBuilder,
  resumeExactly,
  type RewindHooks,
  type WatchRewind,
} from './internals/etcd3';
import type { Logger } from './logger';

export type { WatchRewind };

/** Prune detached watchers when the set grows past this (then past twice its size). */
const PRUNE_FLOOR = 64;

export class ClientWatchers {
  /** Fires when a watch resumes from an earlier revision (see {@link WatchRewind}). */
  public readonly onRewind: Event<WatchRewind>;

  /** Watchers that etcd3 may still hold; pruned of detached ones as it grows. */
  private readonly live = new Set<Watcher>();
  /** Rejecters of `create()` calls still waiting for their watch to be created. */
  private readonly pending = new Set<(err: Error) => void>();
  private readonly rewindEmitter: Emitter<WatchRewind>;
  private readonly hooks: RewindHooks;
  private pruneAt = PRUNE_FLOOR;
  private closed = false;

  /**
   * @param log where rewinds are reported (at `warn`)
   * @param currentRevision reads the cluster's revision linearizably
   */
  constructor(
    private readonly log: Logger,
    currentRevision: () => Promise<bigint>,
  ) {
    this.rewindEmitter = new Emitter<WatchRewind>('onWatchRewind', log);
    this.onRewind = this.rewindEmitter.event;
    this.hooks = {
      currentRevision,
      onRewind: rewind => {
        this.log.warn(
          {
            fromRevision: rewind.fromRevision,
            toRevision: rewind.toRevision,
            clusterRevision: rewind.clusterRevision,
          },
          'watch resumes from an earlier revision: the cluster went back in time ' +
            '(restored from a backup, or a new cluster behind the same address)',
        );
        this.rewindEmitter.emit(rewind);
      },
    };
  }

  /** Number of watchers held (live, or detached but not yet pruned). */
  get size(): number {
    return this.live.size;
  }

  /**
   * Makes `builder`'s watchers resume exactly and tracked; its `create()` rejects
   * with etcd3's `ClientClosedError` after `close()`, and when `close()` runs while
   * it is still waiting.
   */
  builder(builder: WatchBuilder): WatchBuilder {
    patchWatchBuilder(builder, watcher => this.track(resumeExactly(watcher, this.hooks)));
    const create = builder.create;
    builder.create = () => {
      if (this.closed) {
        return Promise.reject(new ClientClosedError('Watch'));
      }
      return new Promise<Watcher>((resolve, reject) => {
        const abort = (err: Error) => reject(err);
        this.pending.add(abort);
        create.call(builder).then(
          w => {
            this.pending.delete(abort);
            resolve(w);
          },
          err => {
            this.pending.delete(abort);
            reject(err);
          },
        );
      });
    };
    return builder;
  }

  /** Patches `ns` (and the namespaces made from it) so that its watchers are ours. */
  adopt<N extends Namespace>(ns: N): N {
    const watch = ns.watch;
    const namespace = ns.namespace;
    ns.watch = () => this.builder(watch.call(ns));
    ns.namespace = (prefix: string | Buffer) => this.adopt(namespace.call(ns, prefix));
    return ns;
  }

  /**
   * Rejects waiting `create()` calls, then cancels every live watcher, waiting at most
   * `timeoutMs` for the server to confirm. Later `create()` calls reject at once.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    const pending = [...this.pending];
    this.pending.clear();
    for (const abort of pending) {
      abort(new ClientClosedError('Watch'));
    }
    const watchers = [...this.live].filter(isAttached);
    this.live.clear();
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>(resolve => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled(watchers.map(w => w.cancel())), bounded]);
    clearTimeout(timer);
  }

  private track(watcher: Watcher): Watcher {
    if (this.live.size >= this.pruneAt) {
      for (const w of this.live) {
        if (!isAttached(w)) {
          this.live.delete(w);
        }
      }
      this.pruneAt = Math.max(PRUNE_FLOOR, this.live.size * 2);
    }
    this.live.add(watcher);
    const cancel = watcher.cancel;
    watcher.cancel = () => {
      this.live.delete(watcher);
      return cancel.call(watcher);
    };
    return watcher;
  }
}
