/**
 * Cancellation with `AbortSignal`, as nice-grpc, undici and `fetch` do it: a call whose
 * signal aborts rejects at once with an {@link AbortError} (`name === 'AbortError'`).
 *
 * `AbortError` extends etcd3's `GRPCCancelledError`, so code that already catches a
 * cancelled call keeps working; unlike its parent it is not a "recoverable" error
 * (`isRecoverableError()` is false): nobody retries a call its caller gave up on.
 */
import { GRPCCancelledError, RecoverableError } from 'etcd3';
import { InvalidOptionError } from '../errors';

declare module '@grpc/grpc-js/build/src/client' {
  interface CallOptions {
    /**
     * etcd3-resilient, etcd calls only (`client.get('k').options({ signal })`, put, txn,
     * lease grant, lock, campaign, watch creation): aborting it rejects the call at once
     * with an `AbortError` and cancels its gRPC request; an already-aborted signal sends
     * nothing. Clients made by `createGrpcClient` honour it too (the call fails with
     * CANCELLED); grpc-js's own clients ignore it (use `call.cancel()` there).
     */
    signal?: AbortSignal;
  }
}

/**
 * The call was cancelled through its `AbortSignal`. `cause` is the signal's `reason`.
 *
 * `mayHaveBeenApplied` is true for a write (put, delete, txn, lease grant, ...) whose
 * request had already been sent when the signal aborted: etcd may or may not have
 * applied it; read the key to find out. It is false when nothing was sent, and for reads.
 */
export class AbortError extends GRPCCancelledError {
  /** Node's code for an aborted operation. */
  public readonly code = 'ABORT_ERR';

  constructor(
    message: string,
    /** A write was sent before the abort: it may have been applied. */
    public readonly mayHaveBeenApplied = false,
    reason?: unknown,
  ) {
    super(message);
    this.name = 'AbortError';
    if (reason !== undefined) {
      Object.defineProperty(this, 'cause', { value: reason, configurable: true, writable: true });
    }
    // GRPCCancelledError is "recoverable" for etcd3 (the presence of the symbol): an
    // abort is the caller's decision and must never be retried.
    delete (this as any)[RecoverableError];
  }
}

/** True for an {@link AbortError}, also one from another copy of this package or of etcd3. */
export const isAbortError = (err: unknown): err is AbortError =>
  err instanceof Error && err.name === 'AbortError';

/** The error for a call named `what` whose `signal` aborted. */
export function abortError(
  signal: AbortSignal,
  what: string,
  mayHaveBeenApplied = false,
): AbortError {
  const sent = mayHaveBeenApplied ? ' after it was sent: it may have been applied' : '';
  return new AbortError(`${what} was aborted${sent}`, mayHaveBeenApplied, signal.reason);
}

/** Throws an {@link AbortError} if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw abortError(signal, what);
  }
}

/**
 * Runs `fn` once when `signal` aborts (at once, synchronously, if it already has).
 * Returns the function that unsubscribes; call it when the work is done, so that a
 * long-lived signal does not accumulate listeners.
 */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) {
    return noop;
  }
  if (signal.aborted) {
    fn();
    return noop;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * Settles like `promise`, or rejects with `onAborted()`'s error as soon as `signal`
 * aborts, whichever comes first. `promise` itself is not stopped (pass `onAbort` work
 * for that); its later rejection is handled, so it never becomes unhandled.
 */
export function raceSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAborted: () => Error,
): Promise<T> {
  if (!signal) {
    return promise;
  }
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => {
      promise.catch(noop);
      reject(onAborted());
    });
    promise.then(
      value => {
        off();
        resolve(value);
      },
      err => {
        off();
        reject(err);
      },
    );
  });
}

/**
 * Splits etcd3 call options into the signal and what grpc-js may see (grpc-js's
 * `CallOptions` has no `signal`).
 */
export function takeSignal<O extends object>(
  options: O | undefined,
): { signal: AbortSignal | undefined; rest: O | undefined } {
  const signal = (options as { signal?: unknown } | undefined)?.signal;
  if (!options || signal === undefined) {
    return { signal: undefined, rest: options };
  }
  if (!isAbortSignal(signal)) {
    throw new InvalidOptionError('signal', 'must be an AbortSignal');
  }
  const rest = { ...options };
  delete (rest as { signal?: unknown }).signal;
  return { signal, rest };
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function'
  );
}

function noop(): void {}
