/**
 * Errors for the concepts etcd3-resilient adds. Errors that come from etcd or
 * gRPC are passed through as etcd3's own classes (`GRPCUnavailableError`, ...)
 * and are never re-wrapped, with one exception: a write whose outcome is unknown
 * fails with {@link WriteOutcomeUnknownError} (a `GRPCUnavailableError`).
 *
 * Where one of our errors stands for a situation etcd3 has a class for, it is an
 * instance of that class too (`NoEndpointAvailableError` is a
 * `GRPCUnavailableError`, `DeadlineExceededError` a `GRPCDeadlineExceededError`),
 * so `catch` blocks and `isRecoverableError()` written for etcd3 keep working.
 *
 * Every class here carries a stable `code` (`ERESILIENT_*`) and a `Symbol.for`
 * brand, so `instanceof ResilientEtcdError` works for all of them (whatever they
 * inherit from) and even across duplicate copies of this package in one process.
 */
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';

const brand = Symbol.for('etcd3-resilient.error');
/** Names of our classes an error inheriting from another (built-in) class also is. */
const standsFor = Symbol.for('etcd3-resilient.error.standsFor');

/**
 * `instanceof` for branded classes: true if `value` carries the brand and has a class
 * named like `cls` on its prototype chain (so it works across duplicate copies).
 */
function brandedInstanceOf(cls: Function, value: unknown): boolean {
  if (typeof value !== 'object' || value === null || !(value as any)[brand]) {
    return false;
  }
  if (cls === ResilientEtcdError) {
    return true;
  }
  if ((value as any)[standsFor]?.includes?.(cls.name)) {
    return true;
  }
  for (let p = Object.getPrototypeOf(value); p; p = Object.getPrototypeOf(p)) {
    if (p.constructor?.name === cls.name) {
      return true;
    }
  }
  return false;
}

/**
 * Base class of every error this library defines. Errors that are also etcd3 classes
 * (see {@link NoEndpointAvailableError}) do not inherit from it, but
 * `err instanceof ResilientEtcdError` and {@link isResilientEtcdError} are true for
 * them as well.
 */
export class ResilientEtcdError extends Error {
  /** Stable machine-readable code, e.g. `ERESILIENT_INVALID_OPTION`. */
  public readonly code: string = 'ERESILIENT';
  /** @internal */
  public readonly [brand] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }
}

/** An option, argument or key given to the library is invalid. Thrown before any I/O. */
export class InvalidOptionError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_INVALID_OPTION';
  constructor(
    /** Dotted path of the offending option, e.g. `keepalive.timeMs`. */
    public readonly option: string,
    message: string,
  ) {
    super(`Invalid option "${option}": ${message}`);
  }
}

/**
 * A lease TTL that is not a number of seconds in [1, 9,000,000,000] (etcd's maximum):
 * an {@link InvalidOptionError} (`instanceof` works, `code` `ERESILIENT_INVALID_OPTION`,
 * `option` names the field) that is also a `RangeError`, the class etcd3 throws for a
 * TTL below 1 second, so `catch` blocks written for etcd3 keep working.
 */
export class InvalidTtlError extends RangeError {
  /** `ERESILIENT_INVALID_OPTION`, as every {@link InvalidOptionError}. */
  public readonly code: string = 'ERESILIENT_INVALID_OPTION';
  /** @internal */
  public readonly [brand] = true;
  /** @internal */
  public readonly [standsFor] = ['InvalidOptionError'];
  constructor(
    /** The offending option, e.g. `ttl`. */
    public readonly option: string,
    message: string,
  ) {
    super(`Invalid option "${option}": ${message}`);
    this.name = new.target.name;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }
}

/**
 * Calls after `close()` fail with etcd3's own `ClientClosedError`, re-exported here so
 * that `instanceof` checks written for etcd3 keep working.
 */
export { ClientClosedError } from 'etcd3';

/**
 * Every endpoint's circuit breaker is open, or no endpoint could be connected to
 * within the connect deadline. The call was not sent to any server, so it is safe
 * to retry later, even for a write (`mayHaveBeenApplied` is `false`).
 *
 * An etcd3 `GRPCUnavailableError` (and `isRecoverableError()` is true for it), as
 * etcd3 itself reports an unreachable cluster; also `instanceof ResilientEtcdError`.
 * `cause` (and `lastCause`) hold the last underlying error.
 */
export class NoEndpointAvailableError extends GRPCUnavailableError {
  /** `ERESILIENT_NO_ENDPOINT`. */
  public readonly code: string = 'ERESILIENT_NO_ENDPOINT';
  /** Always `false`: nothing was sent. */
  public readonly mayHaveBeenApplied = false;
  /** @internal */
  public readonly [brand] = true;
  constructor(
    message: string,
    public readonly lastCause?: unknown,
  ) {
    super(message, { cause: lastCause } as any);
    this.name = new.target.name;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }
}

/**
 * A call ran past its deadline. `sent` tells whether the request may have reached a
 * server (then a write may or may not have been applied: `mayHaveBeenApplied`).
 *
 * An etcd3 `GRPCDeadlineExceededError`, as etcd3 itself reports a missed deadline;
 * also `instanceof ResilientEtcdError`.
 */
export class DeadlineExceededError extends GRPCDeadlineExceededError {
  /** `ERESILIENT_DEADLINE`. */
  public readonly code: string = 'ERESILIENT_DEADLINE';
  /** @internal */
  public readonly [brand] = true;
  constructor(
    public readonly method: string,
    public readonly deadlineMs: number,
    public readonly sent: boolean,
    public readonly lastCause?: unknown,
  ) {
    super(
      `${method} did not complete within its ${deadlineMs} ms deadline` +
        (lastCause instanceof Error ? ` (last error: ${lastCause.message})` : ''),
      { cause: lastCause } as any,
    );
    this.name = new.target.name;
  }

  /** True if the request was sent: a write may have been applied. Same as `sent`. */
  get mayHaveBeenApplied(): boolean {
    return this.sent;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }
}

/**
 * A write was sent and then failed in a way that does not tell whether etcd applied
 * it: the connection was reset or cancelled mid-flight (for example by a channel
 * rebuild another call triggered), or the server answered `UNAVAILABLE`. It is NOT
 * retried (a write is sent at most once); read the key back, or make the write
 * conditional (a txn), before trying again.
 *
 * An etcd3 `GRPCUnavailableError`, so existing `catch` blocks keep working;
 * `isRecoverableError()` is true for it, as for any `GRPCUnavailableError`. `cause`
 * is the error the attempt failed with (etcd3's class, e.g. `GRPCCancelledError`).
 * {@link isWriteOutcomeUnknown} is true for it and for a write that ran past its
 * deadline after it was sent.
 */
export class WriteOutcomeUnknownError extends GRPCUnavailableError {
  /** `ERESILIENT_OUTCOME_UNKNOWN`. */
  public readonly code: string = 'ERESILIENT_OUTCOME_UNKNOWN';
  /** Always `true`: the write may have been applied. */
  public readonly mayHaveBeenApplied = true;
  /** @internal */
  public readonly [brand] = true;
  constructor(
    /** `Service.method` of the write, e.g. `KV.put`. */
    public readonly method: string,
    cause: unknown,
  ) {
    super(
      `${method} was sent but its outcome is unknown (it may have been applied): ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause } as any,
    );
    this.name = new.target.name;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return brandedInstanceOf(this, value);
  }
}

/** A bounded shutdown step did not finish in time; resources were force-closed. */
export class ShutdownTimeoutError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_SHUTDOWN_TIMEOUT';
}

/** A value read from etcd (for example a registry record) could not be decoded. */
export class InvalidRecordError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_INVALID_RECORD';
  constructor(
    public readonly key: string,
    message: string,
  ) {
    // Keys come from etcd, written by anyone: keep the message bounded.
    super(
      `Invalid record at ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key)}: ${message}`,
    );
  }
}

/** Type guard for {@link ResilientEtcdError} and its subclasses. */
export const isResilientEtcdError = (e: unknown): e is ResilientEtcdError =>
  e instanceof ResilientEtcdError;

/**
 * True if `err` says a write may have been applied although it failed: a
 * {@link WriteOutcomeUnknownError}, or a `GRPCDeadlineExceededError` of a write that
 * was sent before its deadline passed. Such a write is never retried by the library.
 */
export const isWriteOutcomeUnknown = (err: unknown): boolean =>
  typeof err === 'object' &&
  err !== null &&
  (err as { mayHaveBeenApplied?: unknown }).mayHaveBeenApplied === true;
