/**
 * The logger the library writes to: any pino-compatible logger (pino itself,
 * fastify's `request.log`, a pino child...). By default nothing is logged.
 *
 * Each component logs through one `child({ component, endpoint? })`. Levels:
 * state changes at `info` (`FROM -> TO`), retries at `debug`, breakers opening
 * and records healed at `warn`, lost leases at `error` with `{ err }`.
 * Passwords and tokens are never passed to the logger.
 */
export interface LogFn {
  (obj: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
}

/** The subset of pino's `BaseLogger` the library uses. */
export interface Logger {
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (() => undefined) as LogFn;

/** A logger that drops everything; its `child()` returns itself. */
export const noopLogger: Logger = {
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  child: () => noopLogger,
};

/** Returns true if `value` looks like a pino-compatible logger (false if reading it throws). */
export const isLogger = (value: unknown): value is Logger => {
  try {
    return (
      typeof value === 'object' &&
      value !== null &&
      ['error', 'warn', 'info', 'debug', 'child'].every(
        k => typeof (value as any)[k] === 'function',
      )
    );
  } catch {
    return false; // a getter or Proxy trap threw
  }
};

/** Redacts secrets (gRPC `token` metadata, passwords) from an error message. */
export const redact = (text: string): string =>
  text
    .replace(/(token["'=:\s]+)[A-Za-z0-9._\-]+/gi, '$1[redacted]')
    .replace(/(password["'=:\s]+)\S+/gi, '$1[redacted]');
