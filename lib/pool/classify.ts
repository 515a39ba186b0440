/**
 * How the pool reads an error: did the call reach a server, may it be retried,
 * does it count against the endpoint. gRPC errors are classified from their raw
 * status (code, details and response metadata) before etcd3 casts them to its
 * typed classes; "never sent" is decided by the shared `statusNeverSent` (a status
 * that came from a server was sent, whatever its text).
 */
import { status as Status, type Metadata } from '@grpc/grpc-js';
import { isBrokenCircuitError } from 'cockatiel';
import { isRecoverableError } from 'etcd3';
import { ResilientEtcdError, WriteOutcomeUnknownError } from '../errors';
import { statusNeverSent } from '../policy/never-sent';

/** Raw gRPC error as grpc-js reports it (a `ServiceError`). */
export interface RawGrpcError extends Error {
  code?: number;
  details?: string;
  /** Response headers/trailers; non-empty when the status came from a server. */
  metadata?: Metadata;
}

/** Marks set on the etcd3 error that a failed attempt throws. */
export interface AttemptMarks {
  /** The request may have reached a server. */
  sent: boolean;
  /** The attempt ran past its attempt timeout (a hang), not the call's deadline. */
  hang?: boolean;
  /** gRPC status code, if the error came from gRPC. */
  grpcCode?: number;
  /** We cancelled the attempt because its endpoint's channels were rebuilt. */
  rebuilt?: boolean;
  /**
   * The attempt ran on a connection its endpoint has since replaced (a sent write left
   * running by a rebuild): its failure says nothing about the endpoint now.
   */
  stale?: boolean;
}

const MARKS = Symbol.for('etcd3-resilient.attempt');

/** Attaches attempt marks to an error (non-enumerable; the error itself is not wrapped). */
export function mark<E>(err: E, marks: AttemptMarks): E {
  if (typeof err === 'object' && err !== null) {
    Object.defineProperty(err, MARKS, { value: marks, configurable: true });
  }
  return err;
}

export const marksOf = (err: unknown): AttemptMarks | undefined =>
  typeof err === 'object' && err !== null ? (err as any)[MARKS] : undefined;

/**
 * True if the raw gRPC error proves the request never left this process: a status
 * grpc-js made up itself (no response metadata) of a kind it only gives before a
 * request is sent. `streamStarted` is true when the attempt's call started a stream on
 * a connection (`streamStarted(call.getPeer())`, `lib/policy/stream-started.ts`): then
 * it was sent, even if a trailers-only answer left the status without metadata. See
 * `lib/policy/never-sent.ts`.
 */
export function rawNeverSent(err: RawGrpcError, streamStarted = false): boolean {
  return statusNeverSent(err, streamStarted);
}

/** True if the call provably never reached a server. */
export function neverSent(err: unknown): boolean {
  if (isBrokenCircuitError(err) || (err as { neverSent?: boolean })?.neverSent === true) {
    return true;
  }
  const m = marksOf(err);
  return m !== undefined && !m.sent;
}

/**
 * True for failures that count against the endpoint's breaker: no connection, a
 * broken transport, overload. Not counted here:
 * - errors from etcd itself (`etcdserver: ...`, e.g. no leader, leader changed):
 *   the member answered, and during an election every member says so;
 * - a call that ran out of time (attempt timeout or deadline): it may be waiting on
 *   the cluster (a write during an election) or on a slow link. The pool probes the
 *   endpoint after such a call and counts a failure only if the probe goes
 *   unanswered too, so a frozen member still opens its breaker;
 * - calls we cancelled ourselves.
 */
export function isEndpointFailure(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) {
    return false;
  }
  if ((err as { neverSent?: boolean }).neverSent === true) {
    return true;
  }
  if (err instanceof ResilientEtcdError) {
    // Ours (a deadline that passed before an attempt, no endpoint at all, a write's
    // unknown outcome): the endpoint itself did not fail. The last one is judged by its
    // cause, which the breaker saw through the attempt's marks.
    return err instanceof WriteOutcomeUnknownError && isEndpointFailure((err as any).cause);
  }
  const m = marksOf(err);
  if (
    m?.hang ||
    m?.stale ||
    m?.grpcCode === Status.DEADLINE_EXCEEDED ||
    m?.grpcCode === Status.CANCELLED
  ) {
    return false;
  }
  return isRecoverableError(err as Error) && !/etcdserver:/.test((err as Error).message ?? '');
}

/** True if the error is worth another try of a call that may be repeated. */
export function isTransient(err: unknown): boolean {
  if (neverSent(err)) {
    return true;
  }
  const m = marksOf(err);
  if (m?.hang || m?.rebuilt) {
    return true;
  }
  return (
    typeof err === 'object' &&
    err !== null &&
    isRecoverableError(err as Error) &&
    m?.grpcCode !== Status.CANCELLED
  );
}

/** True if the endpoint's connection itself looks broken (worth a rebuild). */
export function suggestsBrokenConnection(raw: RawGrpcError): boolean {
  return raw.code === Status.UNAVAILABLE && !/etcdserver:/.test(raw.details ?? '');
}
