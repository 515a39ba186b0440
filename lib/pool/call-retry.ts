/**
 * When a unary call tries again: within a round, on the next endpoint
 * ({@link worthAnotherTry}); between rounds, after jittered exponential backoff
 * bounded by the call's deadline (a cockatiel retry policy, {@link createRetryPolicy}).
 */
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import { NoEndpointAvailableError } from '../errors';
import { DeadlineBackoff } from '../policy/deadline-backoff';
import { describeError } from '../policy/describe-error';
import { callOf, type CallPool, type CallState } from './call-context';
import { isTransient, neverSent } from './classify';
import type { RetryEvent } from './call-events';

/** Within a round: may the call go on to the next endpoint after `err`? */
export function worthAnotherTry(pool: CallPool, call: CallState, err: unknown): boolean {
  if (pool.closed || call.abort.aborted || Date.now() >= call.deadline) {
    return false;
  }
  return neverSent(err) || (call.safe && isTransient(err));
}

/**
 * The policy between rounds: retries an error tagged with its call (`withCall`) while
 * {@link worthAnotherTry} allows, never when every breaker is open. Before each retry
 * it logs, calls `onRetry` and adds a `retry` event to the call's trace.
 */
export function createRetryPolicy(
  pool: CallPool,
  onRetry: (event: RetryEvent) => void,
): RetryPolicy {
  const { retry: options } = pool.options;
  const policy = retry(
    handleWhen(err => {
      const call = callOf(err);
      if (!call || err instanceof NoEndpointAvailableError) {
        return false; // every breaker is open: fail fast
      }
      return worthAnotherTry(pool, call, err);
    }),
    {
      maxAttempts: options.maxAttempts,
      backoff: new DeadlineBackoff(
        new ExponentialBackoff({
          initialDelay: options.initialDelayMs,
          maxDelay: options.maxDelayMs,
        }),
        err => callOf(err)?.deadline,
      ),
    },
  );
  policy.onRetry(e => {
    const error = 'error' in e ? e.error : undefined;
    const method = callOf(error)?.method ?? 'unknown';
    pool.log.debug(
      { method, attempt: e.attempt, delayMs: e.delay, err: describeError(error) },
      'retrying',
    );
    onRetry({ method, attempt: e.attempt, delayMs: e.delay, error });
    callOf(error)?.trace.retry(e.attempt, e.delay);
  });
  return policy;
}
