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
