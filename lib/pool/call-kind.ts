/**
 * Which etcd calls may be retried after they were sent.
 *
 * A "safe" call can run twice with no harm (reads, lease revoke/time-to-live,
 * member list...). Every other call is a write: it is retried only when it
 * provably never reached a server, unless the caller marks it idempotent with
 * {@link retryWrites}. This is the Go client's write-at-most-once rule, plus
 * jetcd's per-call opt-in.
 */
import { isMarkedRetryWrites } from '../policy/retry-writes';

export { retryWrites } from '../policy/retry-writes';

const SAFE = new Set([
  'KV.range',
  'Lease.leaseRevoke',
  'Lease.leaseTimeToLive',
  'Lease.leaseLeases',
  'Cluster.memberList',
  'Maintenance.status',
  'Maintenance.alarm',
  'Maintenance.hash',
  'Maintenance.hashKV',
  'Auth.authenticate',
  'Auth.authStatus',
  'Auth.userGet',
  'Auth.userList',
  'Auth.roleGet',
  'Auth.roleList',
]);

/** True if the call may be retried after it was sent. */
export function isSafeCall(
  service: string,
  method: string,
  payload: unknown,
  options: unknown,
): boolean {
  if (isMarkedRetryWrites(options)) {
    return true;
  }
  const name = `${service}.${method}`;
  if (SAFE.has(name)) {
    return true;
  }
  return name === 'KV.txn' && isReadOnlyTxn(payload);
}

/** A txn whose branches only read (as STM's read phase) changes nothing. */
function isReadOnlyTxn(payload: unknown): boolean {
  const p = payload as { success?: unknown[]; failure?: unknown[] } | undefined;
  const ops = [...(p?.success ?? []), ...(p?.failure ?? [])];
  return ops.every(op => {
    const o = op as Record<string, unknown>;
    return (
      o.request_range !== undefined &&
      o.request_put === undefined &&
      o.request_delete_range === undefined &&
      o.request_txn === undefined
    );
  });
}
