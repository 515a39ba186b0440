/**
 * Opt-in signal handling for a clean exit: on SIGTERM/SIGINT, close the given
 * things in order (registrations first, then the client), within a deadline,
 * then exit. Never installed implicitly.
 */
import { readKnownOptions, readMember } from '../policy/read-options';
import { InvalidOptionError } from '../errors';
import { isLogger, noopLogger, type Logger } from '../logger';
import { describeError } from '../policy/describe-error';
import { describeValue } from '../validate';

/** Anything with a `close()`: a `Registration`, a `DurableLease`, the client. */
export interface Closable {
  close(): unknown;
}

/** Options of {@link installShutdownHandlers}. */
export interface ShutdownOptions {
  /** Signals to handle. Defaults to `['SIGTERM', 'SIGINT']`. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Deadline for closing everything, ms; what is still open then is abandoned. Defaults to 5000. */
  readonly timeoutMs?: number;
  /**
   * After closing: `true` calls `process.exit(code)` (0 if everything closed in time,
   * 1 otherwise); `false` does nothing; a function is called with the code instead.
   * Defaults to true.
   */
  readonly exit?: boolean | ((code: number) => void);
  /** Logger; defaults to none. */
  readonly logger?: Logger;
}

/** Outcome of a shutdown run; returned by {@link ShutdownHandle.shutdown}. */
export interface ShutdownResult {
  /** Closables not confirmed closed (threw, timed out, or started after the deadline), by index. */
  readonly failed: number[];
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/** What {@link installShutdownHandlers} returns. */
export interface ShutdownHandle {
  /** Removes the signal handlers. Idempotent. */
  dispose(): void;
  /** Runs the shutdown now (as a signal would), without exiting; returns the same promise every time. */
  shutdown(): Promise<ShutdownResult>;
}

/**
 * On the first of `signals`, closes `closables` one after another in the given
 * order (put registrations before the client they use), bounded by `timeoutMs`
 * in total (once it has passed, the remaining closes are started but not
 * awaited), then exits (see {@link ShutdownOptions.exit}). A second signal while
 * shutting down exits at once with code 1.
 *
 * @example
 * const reg = register(client, { service: 'orders', addr });
 * installShutdownHandlers([reg, client], { logger });
 */
export function installShutdownHandlers(
  closables: readonly Closable[],
  options: ShutdownOptions = {},
): ShutdownHandle {
  // Read once into plain copies: getters and Proxy traps cannot throw later, typos fail.
  options = readKnownOptions(
    options,
    ['signals', 'timeoutMs', 'exit', 'logger'],
    'options',
    '',
  ) as ShutdownOptions;
  closables = readClosables(closables);
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const timeoutMs = options.timeoutMs ?? 5000;
  const exitOpt = options.exit ?? true;
  if (!Array.isArray(closables) || closables.some(c => !c || typeof c.close !== 'function')) {
    throw new InvalidOptionError('closables', 'must be an array of objects with a close() method');
  }
  if (
    !Array.isArray(signals) ||
    signals.length === 0 ||
    [...signals].some(s => typeof s !== 'string' || !/^SIG[A-Z0-9]+$/.test(s))
  ) {
    throw new InvalidOptionError(
      'signals',
      'must be a non-empty array of signal names such as "SIGTERM"',
    );
  }
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidOptionError(
      'timeoutMs',
      `must be a positive number of ms, got ${describeValue(timeoutMs)}`,
    );
  }
  if (typeof exitOpt !== 'boolean' && typeof exitOpt !== 'function') {
    throw new InvalidOptionError('exit', 'must be a boolean or a function');
  }
  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw new InvalidOptionError('logger', 'must be a pino-compatible logger');
  }
  const log = (options.logger ?? noopLogger).child({ component: 'shutdown' });
  const exit = (code: number) => {
    if (exitOpt === true) {
      process.exit(code);
    } else if (typeof exitOpt === 'function') {
      exitOpt(code);
    }
  };
  let running: Promise<ShutdownResult> | undefined;
  const shutdown = () => (running ??= closeAll(closables, timeoutMs, log));
  const onSignal = (signal: NodeJS.Signals) => {
    if (running) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    log.info({ signal, timeoutMs }, 'shutting down');
    void shutdown().then(r => exit(r.failed.length === 0 ? 0 : 1));
  };
  for (const s of signals) {
    process.on(s, onSignal);
  }
  let disposed = false;
  return {
    dispose() {
      if (!disposed) {
        disposed = true;
        signals.forEach(s => process.removeListener(s, onSignal));
      }
    },
    shutdown,
  };
}

async function closeAll(
  closables: readonly Closable[],
  timeoutMs: number,
  log: Logger,
): Promise<ShutdownResult> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  const failed: number[] = [];
  let timedOut = false;
  for (let i = 0; i < closables.length; i++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      // Out of time: still start every remaining close (a client's close() tears down
      // its channels synchronously) but do not wait for it.
      timedOut = true;
      for (let k = i; k < closables.length; k++) {
        failed.push(k);
        Promise.resolve()
          .then(() => closables[k]!.close())
          .catch(() => undefined);
      }
      log.warn(
        { from: i, timeoutMs },
        'shutdown deadline passed; remaining closes started without waiting',
      );
      break;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>(resolve => {
      timer = setTimeout(() => resolve('timeout'), remaining);
      timer.unref?.();
    });
    try {
      const r = await Promise.race([Promise.resolve().then(() => closables[i]!.close()), timeout]);
      if (r === 'timeout') {
        timedOut = true;
        failed.push(i);
        log.warn({ index: i, timeoutMs }, 'close did not finish before the shutdown deadline');
      }
    } catch (err) {
      failed.push(i);
      log.warn({ index: i, err: describeError(err) }, 'close failed');
    } finally {
      clearTimeout(timer);
    }
  }
  const result = { failed, timedOut, durationMs: Date.now() - start };
  log.info(result, 'shutdown finished');
  return result;
}

/** A plain copy of `value` if it is an array of objects with a `close()` (each read once). */
function readClosables(value: unknown): Closable[] {
  const bad = () =>
    new InvalidOptionError('closables', 'must be an array of objects with a close() method');
  if (!Array.isArray(value)) throw bad();
  const copy = [...(value as unknown[])];
  for (const c of copy) {
    if (!c || typeof c !== 'object' || typeof readMember(c, 'close', 'closables') !== 'function') {
      throw bad();
    }
  }
  return copy as Closable[];
}
