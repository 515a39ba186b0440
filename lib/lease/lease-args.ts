/**
 * The arguments of `lease(ttl, options)`, `lock(key)` / `lock.ttl(seconds)` and
 * `election(name, ttl)`, checked before anything is sent: etcd3 grants a lease for a
 * TTL of `'10'` or `1e20`, reads the caller's options wherever it needs them (a
 * throwing getter escapes from deep inside a call) and only finds a bad lock key after
 * it granted the lock's lease.
 */
import type { ILeaseOptions } from 'etcd3';
import { InvalidOptionError, InvalidTtlError } from '../errors';
import { readCallOptions } from '../policy/call-options';

/** etcd's maximum lease TTL in seconds (`MaxLeaseTTL`, 9,000,000,000). */
export const MAX_LEASE_TTL_S = 9_000_000_000;

/**
 * `value` if it is a TTL etcd accepts: a finite number of seconds in
 * [1, {@link MAX_LEASE_TTL_S}]. Otherwise throws {@link InvalidTtlError} (an
 * `InvalidOptionError` and a `RangeError`, as etcd3 throws for a TTL below 1) naming
 * `field`.
 */
export function leaseTtl(value: unknown, field: string): number {
  if (!value || (typeof value === 'number' && value < 1)) {
    // etcd3 refuses these too: its words (its own suite matches them), our class.
    throw new InvalidTtlError(
      field,
      `The TTL in an etcd lease must be at least 1 second. Got: ${String(value)}`,
    );
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidTtlError(field, 'must be a finite number of seconds');
  }
  if (value > MAX_LEASE_TTL_S) {
    throw new InvalidTtlError(field, `must be between 1 and ${MAX_LEASE_TTL_S} s, got ${value}`);
  }
  return value;
}

/**
 * A plain copy of a lease's options (call options plus `autoKeepAlive`), read once.
 * Throws `InvalidOptionError` (`options`, `options.<field>`) for options that are not an
 * object or cannot be read, a `signal` that is not an `AbortSignal`, or an
 * `autoKeepAlive` that is not a boolean.
 */
export function leaseOptions(value: unknown): ILeaseOptions | undefined {
  const copy = readCallOptions(value, 'options') as ILeaseOptions | undefined;
  const autoKeepAlive = copy?.autoKeepAlive;
  if (autoKeepAlive !== undefined && typeof autoKeepAlive !== 'boolean') {
    throw new InvalidOptionError('options.autoKeepAlive', 'must be a boolean');
  }
  return copy;
}

/** `value` if it is a string or a Buffer (a lock key, an election name); else throws `InvalidOptionError` naming `field`. */
export function keyArgument<K extends string | Buffer>(value: K, field: string): K {
  let ok = typeof value === 'string';
  try {
    ok ||= Buffer.isBuffer(value);
  } catch {
    // A Proxy whose getPrototypeOf trap throws: not a Buffer.
  }
  if (!ok) {
    throw new InvalidOptionError(field, 'must be a string or a Buffer');
  }
  return value;
}
