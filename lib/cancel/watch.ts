/**
 * `AbortSignal` for watch creation: `client.watch().key('k').options({ signal }).create()`.
 * An already-aborted signal attaches nothing; aborting before the watch is created
 * rejects `create()` with an `AbortError` at once and detaches the watcher. Aborting
 * later cancels the watcher (it emits `end`), as cancelling a Go context ends a watch.
 */
import type { Watcher, WatchBuilder } from 'etcd3';
import { abortError, onAbort, raceSignal, takeSignal } from '../policy/abort';

declare module 'etcd3/lib/watch' {
  interface WatchBuilder {
    /**
     * etcd3-resilient: sets the watch's `signal`. Aborting it rejects a pending
     * `create()` with an `AbortError` (nothing is attached if it had already aborted),
     * and cancels a created watcher.
     */
    options(options: { signal?: AbortSignal } | undefined): this;
  }
}

/** Gives `builder` an `options({ signal })` method honoured by `create()`. Returns `builder`. */
export function abortableWatch(builder: WatchBuilder): WatchBuilder {
  let signal: AbortSignal | undefined;
  const b = builder as unknown as {
    options(options: { signal?: AbortSignal } | undefined): WatchBuilder;
    create(): Promise<Watcher>;
  };
  const create = builder.create;
  b.options = (options: { signal?: AbortSignal } | undefined) => {
    signal = takeSignal(options ?? {}).signal;
    return builder;
  };
  b.create = function (this: WatchBuilder): Promise<Watcher> {
    const s = signal;
    if (!s) {
      return create.call(builder);
    }
    if (s.aborted) {
      return Promise.reject(abortError(s, 'watch creation'));
    }
    // Capture the watcher that create() builds, to cancel it on abort.
    let watcher: Watcher | undefined;
    const build = builder.watcher;
    builder.watcher = () => (watcher = build.call(builder));
    let created: Promise<Watcher>;
    try {
      created = create.call(builder);
    } finally {
      builder.watcher = build;
    }
    const w = watcher;
    const off = onAbort(s, () => {
      w?.cancel().catch(() => undefined);
    });
    w?.once('end', off);
    return raceSignal(created, s, () => abortError(s, 'watch creation'));
  };
  return builder;
}
