/**
 * `client.lease(ttl, { signal })`: the signal governs the grant only (as a Go context
 * given to `Grant`). etcd3 keeps the lease's options for later calls (`revoke()`), where
 * an aborted signal would stop a revoke from being sent: this drops it from them.
 */
import type { Lease } from 'etcd3';

/** Keeps `lease`'s signal out of its later calls. Returns `lease`. */
export function signalForGrantOnly(lease: Lease): Lease {
  const defaults = (lease as unknown as { defaultOptions?: { signal?: unknown } }).defaultOptions;
  if (defaults && typeof defaults === 'object' && 'signal' in defaults) {
    (lease as unknown as { defaultOptions: object }).defaultOptions = withoutSignal(defaults);
  }
  return lease;
}

function withoutSignal<O extends { signal?: unknown }>(options: O): Omit<O, 'signal'> {
  const { signal: _signal, ...rest } = options;
  return rest;
}
