/**
 * The per-call opt-in that lets a write be retried like a read (jetcd's
 * `withAutoRetry`). The pool reads the mark (`lib/pool/call-kind.ts`); features
 * above it (the registry's lease grant) and users set it.
 */
import type { CallOptions } from '@grpc/grpc-js';
import { readCallOptions } from './call-options';

/** The mark; a global symbol, so duplicate copies of the package agree. */
const RETRY_WRITES = Symbol.for('etcd3-resilient.retryWrites');

/**
 * Marks call options so that a write made with them is retried like a read, e.g.
 * `client.put('k').value('v').options(retryWrites())`. Use it only for writes whose
 * second application is harmless (a put of the same value, a guarded txn).
 *
 * @param options call options to copy (read once); default none
 * @throws InvalidOptionError (`options`, `options.<field>`) when `options` is not an
 *   object, cannot be read (a throwing getter or Proxy trap) or has a `signal` that is
 *   not an `AbortSignal`.
 */
export function retryWrites(options: CallOptions = {}): CallOptions {
  return Object.assign({ ...readCallOptions(options, 'options') }, { [RETRY_WRITES]: true });
}

/** True if `options` were marked by {@link retryWrites}. */
export function isMarkedRetryWrites(options: unknown): boolean {
  return Boolean(options && (options as Record<symbol, unknown>)[RETRY_WRITES]);
}
