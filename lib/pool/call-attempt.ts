/**
 * One attempt of a unary call on one endpoint: wait for its channel to be READY (a
 * write waits at most `connectTimeoutMs`), add the auth token (and `hasleader` to a
 * write), send, and track the gRPC call so that a rebuild, a close, the caller's
 * signal or a lost hedge can cancel it. It is not cut short: it runs until the call's
 * deadline (a slow link is not a dead one); hedging and the hang probe deal with
 * members that stop answering.
 *
 * The hot path (channel READY, token at hand) sends synchronously: no promise between
 * the round and grpc-js. The deadline is our own timer (`deadline-timer.ts`), not
 * grpc-js's `deadline` option.
 */
import { Metadata, connectivityState, status as Status, type Client } from '@grpc/grpc-js';
import { DeadlineExceededError } from '../errors';
import { deadlineExceededError, deadlineTimer } from '../policy/deadline-timer';
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
  const metadata = ep.isClosed ? undefined : metadataNow(pool, call);
  if (metadata) {
    const client = ep.client(call.service);
    if (client.getChannel().getConnectivityState(true) === connectivityState.READY) {
      try {
        return send<T>(pool, sweep, ep, call, handle, client, metadata);
      } catch (err) {
        return Promise.reject(err);
      }
    }
  }
  const connectBy = call.safe
    ? call.deadline
    : Math.min(call.deadline, now + pool.options.connectTimeoutMs);
  // A refused connection is definite: every candidate gives way at once (failFast).
  return ep.waitReady(call.service, connectBy - now, true).then(
    async client => {
      const metadata = metadataNow(pool, call) ?? (await pool.auth.metadata(call.deadline));
      return send<T>(pool, sweep, ep, call, handle, client, metadata);
    },
    err => {
      pool.noteFailure(ep, err);
      throw err;
    },
  );
}

/**
 * The attempt's metadata if it can be had at once: none needed (`authenticate`, or
 * auth off). `undefined` when a token must be awaited (`auth.metadata()`).
 */
function metadataNow(pool: CallPool, call: CallState): Metadata | undefined {
  return call.method === 'authenticate' || !pool.auth.enabled ? new Metadata() : undefined;
}

/** Sends the attempt on `client` (READY); throws if the call was aborted or the hedge lost. */
function send<T>(
  pool: CallPool,
  sweep: HangSweep,
  ep: Endpoint,
  call: CallState,
  handle: AttemptHandle,
  client: Client,
  metadata: Metadata,
): Promise<T> {
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
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    const pending = (client as any)[call.method](
      call.payload,
      metadata,
      call.callOptions,
      (err: RawGrpcError | null, res: T) => {
        clearTimeout(timer);
        ep.untrackCall(pending);
        untrack();
        if (err) {
          if (expired && err.code === Status.CANCELLED) {
            err = deadlineExceededError(err); // as grpc-js reports a passed deadline
          }
          // Read now: a stream started on a connection means the request was sent,
          // even when a trailers-only answer leaves the status without metadata.
          const streamStarted = callStartedStream(pending);
          const rebuiltSince = generation !== ep.generation;
          const attemptEnd = call.deadline;
          reject(attemptError(pool, ep, call, err, { attemptEnd, rebuiltSince, streamStarted }));
        } else {
          ep.lastAnswerAt = Date.now();
          resolve(res);
        }
      },
    );
    handle.pending = pending;
    ep.trackCall(pending, !call.safe);
    const untrack = call.abort.track(pending); // cancelled if the signal aborts
    timer = deadlineTimer(call.deadline, () => {
      expired = true;
      pending.cancel();
    });
  });
}
