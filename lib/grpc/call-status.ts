/**
 * How the resilient gRPC client reads a failed attempt's status: did the request
 * provably never reach a server (always safe to retry), may it be retried at all,
 * and does it count against the target's circuit breaker.
 */
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { fromServer, statusNeverSent } from '../policy/never-sent';

/** Marks statuses this library made up for calls it did not send (open breaker, closed client). */
const NOT_SENT = Symbol('etcd3-resilient.grpc.not-sent');

/**
 * A status for a call this library refused to send (the breaker is open, the
 * client is closed): never sent by construction. The mark is a property only this
 * module can set, so no server text can imitate it.
 */
export function notSentStatus(code: Status, details: string): StatusObject {
  return Object.defineProperty(makeStatus(code, details), NOT_SENT, { value: true });
}

/**
 * True if the attempt provably never reached a server application: a status this
 * library made up without sending ({@link notSentStatus}), or one grpc-js produced
 * before a request was sent ({@link statusNeverSent}: decided from facts, never from
 * a server's text). `responseSeen` is true when the attempt received response
 * headers; the attempt was then sent, whatever the status says.
 */
export function attemptNeverSent(status: StatusObject, responseSeen = false): boolean {
  return (
    (status as { [NOT_SENT]?: true })[NOT_SENT] === true || statusNeverSent(status, responseSeen)
  );
}

/**
 * True if another attempt is allowed: UNAVAILABLE, and either the method is
 * idempotent or the attempt never reached a server (`neverSent`, from
 * {@link attemptNeverSent}); or, for an idempotent method only, CANCELLED by the
 * server side (a server shutting down resets its streams), never a cancel of our
 * own (`Cancelled on client`). DEADLINE_EXCEEDED is never retried (the call's
 * deadline covers every attempt).
 */
export function isRetryable(
  status: Pick<StatusObject, 'code' | 'details'>,
  idempotent: boolean,
  neverSent: boolean,
): boolean {
  if (status.code === Status.UNAVAILABLE) {
    return idempotent || neverSent;
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
export function isTargetFailure(status: StatusObject): boolean {
  if (status.code === Status.UNAVAILABLE) {
    return fromServer(status) || !/Channel closed before call started/.test(status.details ?? '');
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
    /** The attempt provably never reached a server ({@link attemptNeverSent}). */
    public readonly neverSent: boolean,
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
