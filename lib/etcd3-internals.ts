/**
 * The one place that touches etcd3's private parts: it points an `Etcd3`
 * instance's connection pool at ours. etcd3's KV, lease, watch, auth, maintenance
 * and cluster clients all hold a reference to that pool object, so replacing its
 * methods in place reroutes every call without forking etcd3. The shape is checked
 * first; if a future etcd3 changes it, construction fails loudly instead of
 * silently losing resilience. etcd3 is pinned to 1.1.2 in package.json.
 */
import type { Etcd3 as BaseEtcd3, ICallable, Namespace } from 'etcd3';
import type { WatchManager } from 'etcd3/lib/watch';

/** What our pool offers in place of etcd3's `ConnectionPool`. */
export interface PoolReplacement extends ICallable<unknown> {
  close(): void;
  mock(callable: ICallable<unknown>): void;
  unmock(): void;
}

const METHODS = ['exec', 'withConnection', 'markFailed', 'close', 'mock', 'unmock'] as const;

/** Reroutes `client`'s pool to `pool`. Throws if etcd3's internals are not as expected. */
export function installPool(client: BaseEtcd3, pool: PoolReplacement): void {
  const target = (client as any).pool;
  if (!target || METHODS.some(m => typeof target[m] !== 'function')) {
    throw new Error(
      'etcd3-resilient: the installed etcd3 version has an unexpected connection pool shape; ' +
        'use the etcd3 version pinned in etcd3-resilient/package.json',
    );
  }
  for (const m of METHODS) {
    target[m] = (pool as any)[m].bind(pool);
  }
  Object.defineProperty(target, 'callOptionsFactory', { get: () => pool.callOptionsFactory });
}

/** The watch manager of a namespace (each namespace has its own), if the shape is as expected. */
export function watchManagerOf(ns: Namespace): WatchManager | undefined {
  const wm = (ns as any).watchManager;
  return wm && Array.isArray(wm.watchers) ? wm : undefined;
}

/** Watchers currently attached to a namespace. */
export function watchersOf(ns: Namespace): Array<{ cancel(): Promise<void> }> {
  return [...((watchManagerOf(ns) as any)?.watchers ?? [])];
}

/**
 * Makes a watcher resume exactly where it left off. etcd3 moves a watcher's resume
 * point to the *header* revision of every response, including the "created" response
 * of a re-attached watch, whose header is the store's current revision while events
 * before it are still on their way. A stream that breaks again before they arrive then
 * resumes past them, and those events are lost. Here the resume point only moves past
 * events actually delivered (last event's mod_revision + 1), or past a progress
 * notification's header (etcd sends those only to watchers that are in sync).
 */
export function resumeExactly<W extends object>(watcher: W): W {
  const w = watcher as any;
  const request = w.request;
  if (!request || typeof w.updateRevision !== 'function') {
    return watcher; // unexpected shape: keep etcd3's behaviour
  }
  w.updateRevision = (res: {
    created?: boolean;
    header?: { revision?: string };
    events?: Array<{ kv: { mod_revision: string } }>;
  }) => {
    const events = res.events ?? [];
    let next: bigint;
    if (events.length > 0) {
      next = BigInt(events[events.length - 1].kv.mod_revision) + 1n;
    } else if (res.created && request.start_revision) {
      return; // re-attached where we asked: nothing delivered yet
    } else if (res.header?.revision !== undefined) {
      next = BigInt(res.header.revision) + 1n;
    } else {
      return;
    }
    if (!request.start_revision || next > BigInt(request.start_revision)) {
      request.start_revision = next.toString();
    }
  };
  return watcher;
}

/** Patches `ns.watch()` so that every watcher it builds resumes exactly (see {@link resumeExactly}). */
export function watchResumingExactly<N extends Namespace>(
  ns: N,
  watch: () => ReturnType<Namespace['watch']>,
): ReturnType<Namespace['watch']> {
  const builder = watch.call(ns);
  const b = builder as any;
  if (typeof b.watcher === 'function') {
    const original = b.watcher;
    b.watcher = function (this: unknown) {
      return resumeExactly(original.call(this));
    };
  }
  return builder;
}
