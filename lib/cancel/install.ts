/**
 * Wires `AbortSignal` support into a namespace's (or the client's) etcd3 factories:
 * `lease(ttl, { signal })`, `lock(k).options({ signal })`, `election(n).campaign(v, { signal })`
 * and `watch()...options({ signal }).create()`. Unary calls (`get`, `put`, `txn`, ...)
 * honour `options({ signal })` in the connection pool itself.
 */
import type { Namespace } from 'etcd3';
import { abortableElection } from './election';
import { signalForGrantOnly } from './lease';
import { abortableLock } from './lock';
import { abortableWatch } from './watch';

/**
 * Patches `ns`'s own `lease`, `lock`, `election`, `watch` and `namespace` (so namespaces
 * made from it get the same), keeping any override.
 */
export function installCancellation<N extends Namespace>(ns: N): N {
  const lease = ns.lease.bind(ns);
  const lock = ns.lock.bind(ns);
  const election = ns.election.bind(ns);
  const watch = ns.watch.bind(ns);
  const namespace = ns.namespace.bind(ns);
  ns.lease = (ttl, options) => signalForGrantOnly(lease(ttl, options));
  ns.lock = key => abortableLock(lock(key));
  ns.election = (name, ttl) => abortableElection(election(name, ttl));
  ns.watch = () => abortableWatch(watch());
  ns.namespace = prefix => installCancellation(namespace(prefix));
  return ns;
}
