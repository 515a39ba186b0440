/**
 * A call's deadline kept by a timer of our own instead of grpc-js's `deadline` option.
 * grpc-js turns that option into a timer per call plus a `grpc-timeout` header whose
 * value changes with every call (HPACK cannot index it, and etcd arms a timer of its
 * own per request); cancelling the call at the deadline ends it the same way for the
 * caller, and the RST_STREAM tells etcd to stop.
 */
import { status as Status, type StatusObject } from '@grpc/grpc-js';
import { MAX_TIMER_DELAY_MS } from './timer-delay';

/**
 * Calls `onExpire` at `deadline` (epoch ms) unless the returned timer is cleared first;
 * `undefined` (no timer) for no deadline (`Infinity`) or one further away than
 * grpc-js times (`getRelativeTimeout`). The timer is `unref()`'d: a call in flight
 * keeps the process alive through its socket, not its deadline.
 */
export function deadlineTimer(deadline: number, onExpire: () => void): NodeJS.Timeout | undefined {
  const ms = deadline - Date.now();
  if (!(ms <= MAX_TIMER_DELAY_MS)) {
    // Beyond Node's longest timer (about 24.8 days); grpc-js sets no timer there either.
    return undefined;
  }
  return setTimeout(onExpire, Math.max(0, ms)).unref();
}

/**
 * The error grpc-js gives a call whose deadline passed, made from the error of the
 * same call cancelled at its deadline (`CANCELLED`): `DEADLINE_EXCEEDED`, details
 * `Deadline exceeded`, the cancelled call's metadata and stack.
 */
export function deadlineExceededError(cancelled: Error & Partial<StatusObject>): Error {
  const details = 'Deadline exceeded';
  const message = `${Status.DEADLINE_EXCEEDED} ${Status[Status.DEADLINE_EXCEEDED]}: ${details}`;
  return Object.assign(new Error(message), {
    code: Status.DEADLINE_EXCEEDED,
    details,
    metadata: cancelled.metadata,
    stack: cancelled.stack?.replace(/^[^\n]*/, `Error: ${message}`),
  });
}
