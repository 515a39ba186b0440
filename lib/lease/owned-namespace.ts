/**
 * Every lease a client makes — `lease()`, a lock's, a campaign's, through any namespace —
 * is an {@link OwnedLease} that the client holds until it ends, so that `close()` stops
 * its keepalive quietly (no `lost`, no campaign `error` after the client closed).
 */
import type { ILeaseOptions, Namespace } from 'etcd3';
import type { Logger } from '../logger';
import { namespaceParts } from './etcd3-lease-hooks';
import { OwnedElection } from './owned-election';
import { OwnedLease } from './owned-lease';
import { OwnedLock } from './owned-lock';

/** Makes an {@link OwnedLease} on a pool and key prefixer (of a client or namespace). */
export type LeaseFactory = (
  pool: any,
  nsApplicator: any,
  ttl: number,
  options?: ILeaseOptions,
) => OwnedLease;

/**
 * A {@link LeaseFactory} whose leases are in `held` until they end (lost, revoked,
 * released or closed). `log()` is read at each call.
 */
export function heldLeases(held: Set<OwnedLease>, log: () => Logger | undefined): LeaseFactory {
  return (pool, nsApplicator, ttl, options) => {
    const lease = new OwnedLease(pool, nsApplicator, ttl, options, log());
    held.add(lease);
    lease.signal.addEventListener('abort', () => held.delete(lease), { once: true });
    return lease;
  };
}

/**
 * Makes `ns.lease()`, `ns.lock()` and `ns.election()` return the owned variants (made
 * with `newLease`), and the same for namespaces made from `ns`. Returns `ns`.
 */
export function ownNamespace<N extends Namespace>(ns: N, newLease: LeaseFactory, log?: Logger): N {
  const { pool, nsApplicator } = namespaceParts(ns);
  const namespace = ns.namespace;
  ns.lease = (ttl, options) => newLease(pool, nsApplicator, ttl, options);
  ns.lock = key => new OwnedLock(pool, nsApplicator, key, log, newLease);
  ns.election = (name, ttl) => new OwnedElection(ns, name, ttl, log, newLease);
  ns.namespace = prefix => ownNamespace(namespace.call(ns, prefix), newLease, log);
  return ns;
}
