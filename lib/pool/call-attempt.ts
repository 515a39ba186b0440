/**
 * One attempt of a unary call on one endpoint: wait for its channel to be READY (a
 * write waits at most `connectTimeoutMs`), add the auth token (and `hasleader` to a
 * write), send, and track the gRPC call so that a rebuild, a close, the caller's
 * signal or a lost hedge can cancel it. It is not cut short: it runs until the call's
 * deadline (a slow link is not a dead one); hedging and the hang probe deal with
 * members that stop answering.
 */
import { Metadata } from '@grpc/grpc-js';
import { DeadlineExceededError } from '../errors';
import { callStartedStream } from '../policy/stream-started';
import { attemptError } from './attempt-error';
import type { AttemptHandle, CallPool, CallState } from './call-context';
import type { RawGrpcError } from './classify';
import { NotConnectedError, type Endpoint } from './endpoint';
import type { HangSweep } from './hang-sweep';

/** Runs one attempt of `call` on `ep`; `handle` lets a hedged round cancel it. */
export function attempt<T>(
  pool: CallPool,
  sweep: HangSweep,
  ep: Endpoint,
  call: CallState,
  handle: AttemptHandle,
): Promise<T> {
  call.endpoint = ep;
  const now = Date.now();
  if (now >= call.deadline) {
    return Promise.reject(
      new DeadlineExceededError(call.method, call.timeoutMs, false, pool.lastCause),
    );
  }
  const attemptEnd = call.deadline;
  const connectBy = call.safe
    ? attemptEnd
    : Math.min(call.deadline, now + pool.options.connectTimeoutMs);
  // A refused connection is definite: every candidate gives way at once (failFast).
  return ep.waitReady(call.service, connectBy - now, true).then(
    async client => {
      const metadata =
        call.method === 'authenticate' ? new Metadata() : await pool.auth.metadata(call.deadline);
      if (!call.safe) {
        // etcd rejects a request carrying this while its member has no leader, before
        // doing anything with it ("etcdserver: no leader"): such a write was not applied.
        metadata.set('hasleader', 'true');
      }
      const generation = ep.generation;
      call.abort.check();
      if (handle.cancelled) {
        throw new NotConnectedError(ep.url, 'hedged attempt no longer needed');
      }
      call.trace.attempt(ep.url);
      sweep.start();
      return new Promise<T>((resolve, reject) => {
        const pending = (client as any)[call.method](
          call.payload,
          metadata,
          { ...call.callOptions, deadline: attemptEnd },
          (err: RawGrpcError | null, res: T) => {
            ep.untrackCall(pending);
            untrack();
            if (err) {
              // Read now: a stream started on a connection means the request was sent,
              // even when a trailers-only answer leaves the status without metadata.
              const streamStarted = callStartedStream(pending);
              const rebuiltSince = generation !== ep.generation;
              reject(
                attemptError(pool, ep, call, err, { attemptEnd, rebuiltSince, streamStarted }),
              );
            } else {
              ep.lastAnswerAt = Date.now();
              resolve(res);
            }
          },
        );
        handle.pending = pending;
        ep.trackCall(pending, !call.safe);
        const untrack = call.abort.track(pending); // cancelled if the signal aborts
      });
    },
    err => {
      pool.noteFailure(ep, err);
      throw err;
    },
  );
}
