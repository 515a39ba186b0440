/**
 * How the resilient gRPC client reads a failed attempt's status: did the request
 * provably never reach a server (always safe to retry), may it be retried at all,
 * and does it count against the target's circuit breaker.
 */
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';

/**
 * UNAVAILABLE details that grpc-js (and this library) produce only when the call
 * was not sent to any server: the load balancer had no ready connection or no
 * address, the connect was refused, or the server refused the HTTP/2 stream
 * before handing it to the application.
 */
const NEVER_SENT =
  /No connection established|No addresses resolved|Name resolution failed|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Stream refused by server|circuit breaker .* is open|Channel closed before call started|client .* is closed/i;

/** True if the attempt provably never reached a server application. */
export function neverSent(status: Pick<StatusObject, 'code' | 'details'>): boolean {
  return status.code === Status.UNAVAILABLE && NEVER_SENT.test(status.details ?? '');
}

/**
 * True if another attempt is allowed: UNAVAILABLE, and either the method is
 * idempotent or the attempt never reached a server; or, for an idempotent method
 * only, CANCELLED by the server side (a server shutting down resets its streams),
 * never a cancel of our own (`Cancelled on client`). DEADLINE_EXCEEDED is never
 * retried (the call's deadline covers every attempt).
 */
export function isRetryable(
  status: Pick<StatusObject, 'code' | 'details'>,
  idempotent: boolean,
): boolean {
  if (status.code === Status.UNAVAILABLE) {
    return idempotent || neverSent(status);
  }
  return (
    idempotent &&
    status.code === Status.CANCELLED &&
    !/Cancelled on client/.test(status.details ?? '')
  );
}

/**
 * True if the status says something about the target's health (counts for its
 * breaker). A call failed because we closed its channel for a rebuild says
 * nothing new: the rebuild already reacted, and the retry will tell.
 */
export function isTargetFailure(status: Pick<StatusObject, 'code' | 'details'>): boolean {
  if (status.code === Status.UNAVAILABLE) {
    return !/Channel closed before call started/.test(status.details ?? '');
  }
  return status.code === Status.DEADLINE_EXCEEDED;
}

/** A failed attempt, thrown inside the retry/breaker policy. */
export class AttemptFailedError extends Error {
  constructor(
    public readonly status: StatusObject,
    /** Full method path, e.g. `/pkg.Users/GetUser`. */
    public readonly method: string,
    public readonly idempotent: boolean,
    /** `Date.now()` deadline of the whole call. */
    public readonly deadline: number,
  ) {
    super(`${Status[status.code] ?? status.code}: ${status.details}`);
    this.name = 'AttemptFailedError';
  }
}

/** A status object with fresh metadata. */
export function makeStatus(code: Status, details: string): StatusObject {
  return { code, details, metadata: new Metadata() };
}

/**
 * True if `method` (a full path such as `/pkg.Users/GetUser`) is in `names`, by
 * path, by method name, or by the lower-camel-case alias grpc-js clients expose.
 */
export function matchesMethod(names: ReadonlySet<string>, path: string): boolean {
  if (names.size === 0) {
    return false;
  }
  if (names.has(path)) {
    return true;
  }
  const name = path.slice(path.lastIndexOf('/') + 1);
  return names.has(name) || names.has(name.charAt(0).toLowerCase() + name.slice(1));
}
