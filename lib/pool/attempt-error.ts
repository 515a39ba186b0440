/**
 * What a failed attempt means: the raw gRPC error is classified before etcd3 casts it
 * (sent or not, a hang, a rebuild, a stale connection), its endpoint is told (failure
 * record, rebuild, hang probe), and a write whose outcome is unknown becomes
 * {@link WriteOutcomeUnknownError}.
 */
import { status as Status } from '@grpc/grpc-js';
import { EtcdInvalidAuthTokenError, castGrpcError } from 'etcd3';
import { WriteOutcomeUnknownError } from '../errors';
import type { CallPool, CallState } from './call-context';
import {
  isTransient,
  mark,
  rawNeverSent,
  suggestsBrokenConnection,
  type RawGrpcError,
} from './classify';
import type { Endpoint } from './endpoint';

/** etcd's answer to a `hasleader` request while its member has no leader. */
export const NO_LEADER = /etcdserver: no leader/;

/** The facts about a failed attempt that its raw error does not carry. */
export interface AttemptFacts {
  /** When the attempt was to end (the call's deadline). */
  readonly attemptEnd: number;
  /** Its endpoint was rebuilt while it ran. */
  readonly rebuiltSince: boolean;
  /** It started a stream on a connection (`callStartedStream`): it was sent. */
  readonly streamStarted: boolean;
}

/** The error a failed attempt on `ep` rejects with, marked (see `classify.ts`). */
export function attemptError(
  pool: CallPool,
  ep: Endpoint,
  call: CallState,
  raw: RawGrpcError,
  facts: AttemptFacts,
): Error {
  const { attemptEnd, rebuiltSince, streamStarted } = facts;
  const hang = raw.code === Status.DEADLINE_EXCEEDED && attemptEnd < call.deadline;
  const err = castGrpcError(raw);
  call.trace.attemptFailed(ep.url, err, raw.code);
  if (call.abort.aborted && raw.code === Status.CANCELLED) {
    // We cancelled it for the caller's signal: not the endpoint's fault (marked
    // CANCELLED, the breaker around the attempt does not count it).
    return mark(err, { sent: true, grpcCode: raw.code });
  }
  // An invalid (expired) token is rejected before anything is applied: refresh and resend.
  const authRejected = err instanceof EtcdInvalidAuthTokenError;
  if (authRejected) {
    pool.auth.invalidate();
  }
  // We cancelled it ourselves when its channels were rebuilt: a read is worth resending.
  const rebuilt = rebuiltSince && raw.code === Status.CANCELLED;
  // With `hasleader` (set on writes), etcd answers "no leader" before doing anything.
  const noLeader = !call.safe && NO_LEADER.test(raw.details ?? '');
  const sent = !rawNeverSent(raw, streamStarted) && !authRejected && !noLeader;
  const marks = { sent, hang, grpcCode: raw.code, rebuilt, stale: rebuiltSince };
  mark(err, marks);
  if (isTransient(err) && !rebuiltSince) {
    // Seen in health() and deprioritised for a while; only isEndpointFailure() errors
    // also count against the breaker (the breaker.execute around the attempt does that).
    pool.noteFailure(ep, err);
  }
  if (rebuiltSince) {
    // A call of an earlier generation (a sent write left running by a rebuild): its
    // failure says nothing about the connection the endpoint has now.
  } else if (suggestsBrokenConnection(raw)) {
    ep.requestRebuild('call unavailable');
  } else if (raw.code === Status.DEADLINE_EXCEEDED) {
    pool.probe(ep);
  }
  return call.safe || !sent ? err : writeOutcome(call, err, raw.code, marks);
}

/**
 * A write that was sent and failed: if its failure does not tell whether etcd applied
 * it (the stream was cancelled or reset mid-flight, or UNAVAILABLE was answered), it
 * becomes one documented error, {@link WriteOutcomeUnknownError}; a deadline that
 * passed after it was sent stays etcd3's `GRPCDeadlineExceededError`, flagged
 * `mayHaveBeenApplied`. Other answers (etcd refusing it: INVALID_ARGUMENT,
 * FAILED_PRECONDITION...) are kept as they are.
 */
function writeOutcome(call: CallState, err: Error, code: number | undefined, marks: object): Error {
  if (code === Status.UNAVAILABLE || code === Status.CANCELLED) {
    return mark(new WriteOutcomeUnknownError(`${call.service}.${call.method}`, err), marks as any);
  }
  if (code === Status.DEADLINE_EXCEEDED) {
    Object.defineProperty(err, 'mayHaveBeenApplied', { value: true, enumerable: true });
  }
  return err;
}
