/**
 * Health-following: a periodic check of the service's own health (a TCP connect
 * to its listener, and/or a user function) whose result decides whether the
 * registration is published or withdrawn.
 */
import * as net from 'node:net';
import { InvalidOptionError } from '../errors';
import { assertAddress } from '../service-record';
import { describeError } from '../policy/describe-error';
import { describeValue } from '../validate';

/** Options of the health check of a registration. */
export interface HealthCheckOptions {
  /**
   * `host:port` to open a TCP connection to; the check passes if it connects.
   * Defaults to the registration's `addr` when `fn` is not given; with `fn`, TCP
   * is checked only if set.
   */
  readonly tcp?: string;
  /** Your own check; passes if it returns (or resolves to) `true`. Throwing fails it. */
  readonly fn?: () => Promise<boolean> | boolean;
  /** Time between two checks, ms. Defaults to 5000. */
  readonly intervalMs?: number;
  /** Deadline of one check (TCP connect and `fn` each), ms. Defaults to 1000. */
  readonly timeoutMs?: number;
}

/** {@link HealthCheckOptions} with defaults filled in. */
export interface ResolvedHealthCheck {
  readonly tcp: string | undefined;
  readonly fn: (() => Promise<boolean> | boolean) | undefined;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** Result of one check: `reason` says why it failed. */
export type HealthResult =
  { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** Validates and fills defaults; throws {@link InvalidOptionError}. */
export function resolveHealthCheck(o: HealthCheckOptions, addr: string): ResolvedHealthCheck {
  if (typeof o !== 'object' || o === null) {
    throw new InvalidOptionError('healthCheck', 'must be an object');
  }
  if (o.fn !== undefined && typeof o.fn !== 'function') {
    throw new InvalidOptionError('healthCheck.fn', 'must be a function');
  }
  if (o.tcp !== undefined) {
    assertAddress(o.tcp, 'healthCheck.tcp');
  }
  const ms = (v: unknown, name: string, dflt: number, min: number) => {
    if (v === undefined) {
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > 3_600_000) {
      throw new InvalidOptionError(
        `healthCheck.${name}`,
        `must be a number of ms in [${min}, 3600000], got ${describeValue(v)}`,
      );
    }
    return v;
  };
  const intervalMs = ms(o.intervalMs, 'intervalMs', 5000, 50);
  const timeoutMs = ms(o.timeoutMs, 'timeoutMs', Math.min(1000, intervalMs), 10);
  return { tcp: o.tcp ?? (o.fn ? undefined : addr), fn: o.fn, intervalMs, timeoutMs };
}

/** Runs one check: TCP (if configured), then `fn` (if given). Never rejects. */
export async function runHealthCheck(check: ResolvedHealthCheck): Promise<HealthResult> {
  if (check.tcp !== undefined) {
    const err = await tcpConnect(check.tcp, check.timeoutMs);
    if (err) {
      return { healthy: false, reason: `tcp ${check.tcp}: ${err}` };
    }
  }
  if (check.fn) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<'timeout'>(resolve => {
        timer = setTimeout(() => resolve('timeout'), check.timeoutMs);
        timer.unref?.();
      });
      const ok = await Promise.race([Promise.resolve().then(check.fn), timeout]);
      if (ok === 'timeout') {
        return {
          healthy: false,
          reason: `check function did not answer within ${check.timeoutMs} ms`,
        };
      }
      if (ok !== true) {
        return { healthy: false, reason: `check function returned ${describeValue(ok)}` };
      }
    } catch (err) {
      return { healthy: false, reason: `check function threw ${describeError(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }
  return { healthy: true };
}

/** Resolves with undefined if `host:port` accepts a TCP connection within `timeoutMs`, else an error text. */
function tcpConnect(addr: string, timeoutMs: number): Promise<string | undefined> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  return new Promise(resolve => {
    const socket = net.connect({ host, port });
    const done = (err: string | undefined) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done(`no connection within ${timeoutMs} ms`), timeoutMs);
    timer.unref?.();
    socket.once('connect', () => done(undefined));
    socket.once('error', err => done((err as NodeJS.ErrnoException).code ?? err.message));
  });
}

/**
 * Runs the check now and then every `intervalMs` (the next starts when the last
 * ended), reporting every result. Timers are unref'd.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly check: ResolvedHealthCheck,
    private readonly report: (result: HealthResult) => void,
  ) {}

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    const result = await runHealthCheck(this.check);
    if (this.stopped) {
      return;
    }
    this.report(result);
    this.timer = setTimeout(() => void this.tick(), this.check.intervalMs);
    this.timer.unref?.();
  }
}
