/**
 * The shapes the call loop shares: what it needs from the pool ({@link CallPool}), the
 * state of one unary call ({@link CallState}) and the link from an attempt's error
 * back to its call (so the retry policy, which only sees errors, can judge them).
 */
import type { CallOptions } from '@grpc/grpc-js';
import type { CallAbort } from '../cancel/call-abort';
import type { Logger } from '../logger';
import type { ResolvedOptions } from '../options';
import type { CallTrace } from '../tracing/call-trace';
import type { Authenticator } from './authenticator';
import type { Endpoint, ServiceName } from './endpoint';

/** The pool as the call loop sees it: endpoints, their policies and failure records. */
export interface CallPool {
  readonly options: ResolvedOptions;
  readonly endpoints: readonly Endpoint[];
  readonly auth: Authenticator;
  readonly log: Logger;
  /** True once the pool was closed: no new attempt, no retry. */
  readonly closed: boolean;
  /** The last failure any endpoint had (the cause of a deadline or "no endpoint" error). */
  readonly lastCause: unknown;
  /** Endpoints, best first (see `ResilientPool.order`). */
  order(forWrite: boolean): Endpoint[];
  /** Runs `fn` inside the user's `faultHandling.host` policy of `ep`, if any. */
  onHost<R>(ep: Endpoint, fn: () => Promise<R>): Promise<R>;
  /** Records a failure on `ep` (health, ordering) and as the pool's last cause. */
  noteFailure(ep: Endpoint, err: unknown): void;
  /** Starts a hang probe of `ep` (see `hang-probe.ts`). */
  probe(ep: Endpoint): void;
  /** ms after which a read unanswered on `ep` is hedged, budget permitting. */
  hedgeDelayMs(ep: Endpoint): number;
  /** ms after which a call unanswered on `ep` probes it and a read is hedged anyway. */
  forceDelayMs(ep: Endpoint): number;
  /** A call in flight on `ep` has gone unanswered for longer than its round trips explain. */
  stalled(ep: Endpoint): boolean;
}

/** One unary call, from `exec` to its result. */
export interface CallState {
  readonly service: ServiceName;
  readonly method: string;
  readonly payload: unknown;
  /** What grpc-js is given: the caller's options without `signal` and `deadline`. */
  readonly callOptions: CallOptions;
  /** Epoch ms; `Infinity` when the caller asked for no deadline. */
  readonly deadline: number;
  readonly timeoutMs: number;
  /** May be sent again after it was sent (a read, or a write marked `retryWrites`). */
  readonly safe: boolean;
  /** The caller's `signal`; `CallAbort.NONE` without one. */
  readonly abort: CallAbort;
  /** The call's span (no-op without tracing). */
  readonly trace: CallTrace;
  /** The endpoint of the last attempt (the one that answered, once one did). */
  endpoint?: Endpoint;
}

/** Lets a hedged round cancel an attempt that lost. */
export interface AttemptHandle {
  cancelled: boolean;
  /** The gRPC call, once sent. */
  pending?: { cancel(): void };
}

const CALL = Symbol('call');

/** The call an attempt's error came from (see {@link withCall}). */
export const callOf = (err: unknown): CallState | undefined =>
  typeof err === 'object' && err !== null ? (err as any)[CALL] : undefined;

/** Tags `err` with its call (non-enumerable), for the retry policy's filter. */
export const withCall = <E>(err: E, call: CallState): E => {
  if (typeof err === 'object' && err !== null) {
    Object.defineProperty(err, CALL, { value: call, configurable: true });
  }
  return err;
};
