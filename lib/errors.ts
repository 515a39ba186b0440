/**
 * Errors for the concepts etcd3-resilient adds. Errors that come from etcd or
 * gRPC are passed through as etcd3's own classes (`GRPCUnavailableError`, ...)
 * and are never re-wrapped, so existing `instanceof` checks keep working.
 *
 * Every class here carries a stable `code` (`ERESILIENT_*`) and a
 * `Symbol.for` brand, so `instanceof` works even across duplicate copies of
 * this package in one process.
 */

const brand = Symbol.for('etcd3-resilient.error');

/** Base class of every error this library defines. */
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
    if (typeof value !== 'object' || value === null || !(value as any)[brand]) {
      return false;
    }
    // `this` is the class `instanceof` was called on: walk the prototype chain by name
    // so that subclass checks work across duplicate copies of the package.
    if (this === ResilientEtcdError) {
      return true;
    }
    for (let p = Object.getPrototypeOf(value); p; p = Object.getPrototypeOf(p)) {
      if (p.constructor?.name === this.name) {
        return true;
      }
    }
    return false;
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
 * Calls after `close()` fail with etcd3's own `ClientClosedError`, re-exported here so
 * that `instanceof` checks written for etcd3 keep working.
 */
export { ClientClosedError } from 'etcd3';

/**
 * Every endpoint's circuit breaker is open, or no endpoint could be connected to
 * within the connect deadline. The call was not sent to any server, so it is safe
 * to retry later, even for a write. `cause` holds the last underlying error.
 */
export class NoEndpointAvailableError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_NO_ENDPOINT';
  constructor(
    message: string,
    public readonly lastCause?: unknown,
  ) {
    super(message, { cause: lastCause });
  }
}

/**
 * A call ran past its deadline. `sent` tells whether the request may have reached a
 * server (then a write may or may not have been applied).
 */
export class DeadlineExceededError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_DEADLINE';
  constructor(
    public readonly method: string,
    public readonly deadlineMs: number,
    public readonly sent: boolean,
    public readonly lastCause?: unknown,
  ) {
    super(
      `${method} did not complete within its ${deadlineMs} ms deadline` +
        (lastCause instanceof Error ? ` (last error: ${lastCause.message})` : ''),
      { cause: lastCause },
    );
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
