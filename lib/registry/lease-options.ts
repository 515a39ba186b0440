/**
 * Options of {@link DurableLease} and their validation.
 */
import { InvalidOptionError } from '../errors';
import type { Logger } from '../logger';
import type { BackoffOptions } from '../policy/backoff';
import { describeValue } from '../validate';

/** Smallest TTL accepted, seconds: etcd's own floor with the default 1 s election timeout (1.5 × election timeout, rounded up). */
export const MIN_TTL_SECONDS = 2;
/**
 * Largest TTL accepted, seconds (1 hour). A registration's TTL is how long a
 * crashed instance stays discoverable; beyond an hour that is a mistake, not a tuning.
 */
export const MAX_TTL_SECONDS = 3600;
/** Floor on the keepalive interval, ms. */
export const MIN_KEEPALIVE_INTERVAL_MS = 500;

/** Options of a {@link DurableLease}. */
export interface DurableLeaseOptions {
  /** Lease TTL, whole seconds, 2-3600. Required. */
  readonly ttlSeconds: number;
  /** Time between keepalives, ms. Defaults to TTL/3, at least 500 (the Go client's choice). */
  readonly keepaliveIntervalMs?: number;
  /** Reply deadline of one keepalive, ms. Defaults to the keepalive interval, at most 2000. */
  readonly keepaliveTimeoutMs?: number;
  /** Deadline of each grant, put and delete, ms. Defaults to 2000. */
  readonly callTimeoutMs?: number;
  /** Deadline of the revoke in `close()`, ms. Defaults to 1000. */
  readonly closeTimeoutMs?: number;
  /** Backoff between failed grants and failed key writes. Defaults to 100 ms doubling, capped at 500 ms, jittered. */
  readonly backoff?: BackoffOptions;
  /** Key writes in flight at once when re-writing after a re-grant. Defaults to 32. */
  readonly writeConcurrency?: number;
  /** Logger; defaults to none. */
  readonly logger?: Logger;
}

/** {@link DurableLeaseOptions} with every default filled in. */
export interface ResolvedLeaseOptions {
  readonly ttlSeconds: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** Pause before retrying a failed keepalive, ms. */
  readonly keepaliveRetryMs: number;
  readonly callTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly writeConcurrency: number;
}

/** Throws {@link InvalidOptionError} unless `ttl` is a whole number of seconds in 2-3600. */
export function assertTtlSeconds(ttl: unknown, option = 'ttlSeconds'): asserts ttl is number {
  if (
    typeof ttl !== 'number' ||
    !Number.isInteger(ttl) ||
    ttl < MIN_TTL_SECONDS ||
    ttl > MAX_TTL_SECONDS
  ) {
    throw new InvalidOptionError(
      option,
      `must be a whole number of seconds from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}, got ${describeValue(ttl)}`,
    );
  }
}

function positiveMs(value: unknown, option: string, fallback: number, max = 3_600_000): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new InvalidOptionError(
      option,
      `must be a number of ms in (0, ${max}], got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Fills defaults and validates; throws {@link InvalidOptionError}. */
export function resolveLeaseOptions(o: DurableLeaseOptions, path = ''): ResolvedLeaseOptions {
  assertTtlSeconds(o?.ttlSeconds, `${path}ttlSeconds`);
  const ttlMs = o.ttlSeconds * 1000;
  const keepaliveIntervalMs = positiveMs(
    o.keepaliveIntervalMs,
    `${path}keepaliveIntervalMs`,
    Math.max(MIN_KEEPALIVE_INTERVAL_MS, Math.floor(ttlMs / 3)),
    ttlMs / 2,
  );
  const keepaliveTimeoutMs = positiveMs(
    o.keepaliveTimeoutMs,
    `${path}keepaliveTimeoutMs`,
    Math.min(keepaliveIntervalMs, 2000),
    ttlMs,
  );
  const initialDelayMs = positiveMs(
    o.backoff?.initialDelayMs,
    `${path}backoff.initialDelayMs`,
    100,
    60_000,
  );
  const maxDelayMs = positiveMs(o.backoff?.maxDelayMs, `${path}backoff.maxDelayMs`, 500, 300_000);
  const writeConcurrency = o.writeConcurrency ?? 32;
  if (!Number.isInteger(writeConcurrency) || writeConcurrency < 1 || writeConcurrency > 1024) {
    throw new InvalidOptionError(
      `${path}writeConcurrency`,
      `must be an integer in 1-1024, got ${describeValue(writeConcurrency)}`,
    );
  }
  return {
    ttlSeconds: o.ttlSeconds,
    keepaliveIntervalMs,
    keepaliveTimeoutMs,
    keepaliveRetryMs: Math.min(250, keepaliveIntervalMs),
    callTimeoutMs: positiveMs(o.callTimeoutMs, `${path}callTimeoutMs`, 2000, 60_000),
    closeTimeoutMs: positiveMs(o.closeTimeoutMs, `${path}closeTimeoutMs`, 1000, 60_000),
    backoff: { initialDelayMs, maxDelayMs: Math.max(initialDelayMs, maxDelayMs) },
    writeConcurrency,
  };
}

/** The tuning keys of {@link DurableLeaseOptions} that a registration's `lease` option may set. */
export const LEASE_TUNING_KEYS = [
  'keepaliveIntervalMs',
  'keepaliveTimeoutMs',
  'callTimeoutMs',
  'closeTimeoutMs',
  'backoff',
  'writeConcurrency',
] as const;

/** Every key of {@link DurableLeaseOptions}. */
export const DURABLE_LEASE_KEYS = ['ttlSeconds', ...LEASE_TUNING_KEYS, 'logger'] as const;
