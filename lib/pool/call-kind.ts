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

/** Safe methods of each service (looked up without building a `Service.method` string). */
const SAFE = new Map<string, ReadonlySet<string>>([
  ['KV', new Set(['range'])],
  ['Lease', new Set(['leaseRevoke', 'leaseTimeToLive', 'leaseLeases'])],
  ['Cluster', new Set(['memberList'])],
  ['Maintenance', new Set(['status', 'alarm', 'hash', 'hashKV'])],
  ['Auth', new Set(['authenticate', 'authStatus', 'userGet', 'userList', 'roleGet', 'roleList'])],
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
  if (SAFE.get(service)?.has(method)) {
    return true;
  }
  return service === 'KV' && method === 'txn' && isReadOnlyTxn(payload);
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
