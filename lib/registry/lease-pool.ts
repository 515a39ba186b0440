/**
 * Sharing one {@link DurableLease} between registrations: every registration made
 * on the same client with the same TTL uses the same lease, so 1,000
 * registrations cost one keepalive stream and one timer, not 1,000. The lease is
 * reference-counted: the last registration to close revokes it; the others only
 * delete their own key.
 */
import type { Namespace } from 'etcd3';
import { DurableLease, type DurableLeaseOptions } from './durable-lease';

/** A registration's hold on a (possibly shared) lease. */
export interface LeaseRef {
  readonly lease: DurableLease;
  /** True if other holders may share this lease. */
  readonly shared: boolean;
  /**
   * Gives up this hold and removes `key`: the last holder closes (revokes) the
   * lease, which removes every key at once; others delete only `key`. Idempotent.
   */
  release(key: string): Promise<void>;
}

interface Shared {
  readonly lease: DurableLease;
  refs: number;
}

// client -> ttlSeconds -> shared lease. Weak, so a dropped client takes its leases' bookkeeping with it.
const pools = new WeakMap<object, Map<number, Shared>>();

/**
 * Returns a hold on the lease shared by every registration on `client` with
 * `options.ttlSeconds`, creating it if needed (the first holder's other options
 * and logger apply to it), or, with `shared: false`, on a lease of its own.
 */
export function acquireLease(
  client: Namespace,
  options: DurableLeaseOptions,
  shared = true,
): LeaseRef {
  if (!shared) {
    const lease = new DurableLease(client, options);
    return { lease, shared: false, release: once(() => lease.close()) };
  }
  let byTtl = pools.get(client);
  if (!byTtl) {
    byTtl = new Map();
    pools.set(client, byTtl);
  }
  let entry = byTtl.get(options.ttlSeconds);
  if (!entry || entry.lease.state === 'closed') {
    entry = { lease: new DurableLease(client, options), refs: 0 };
    byTtl.set(options.ttlSeconds, entry);
  }
  entry.refs++;
  const held = entry;
  const pool = byTtl;
  return {
    lease: held.lease,
    shared: true,
    release: once(key => {
      held.refs--;
      if (held.refs > 0) {
        return held.lease.detach(key);
      }
      if (pool.get(options.ttlSeconds) === held) {
        pool.delete(options.ttlSeconds);
      }
      return held.lease.close();
    }),
  };
}

/** Number of shared leases currently held on `client` (for tests and the scale report). */
export function sharedLeaseCount(client: Namespace): number {
  return pools.get(client)?.size ?? 0;
}

function once(fn: (key: string) => Promise<void>): (key: string) => Promise<void> {
  let result: Promise<void> | undefined;
  return key => (result ??= fn(key));
}
