/**
 * The library's one resettable backoff: cockatiel's `ExponentialBackoff`
 * (decorrelated jitter) behind `next()` / `reset()`, for loops that retry until
 * they succeed (lease grants, key writes, watch re-creation, re-listing).
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';

/** Backoff tuning. */
export interface BackoffOptions {
  /** First delay after a failure, ms. Defaults to 100. */
  readonly initialDelayMs?: number;
  /** Cap on any delay, ms. Defaults to 500. */
  readonly maxDelayMs?: number;
}

/** Default first retry delay, ms. */
export const DEFAULT_INITIAL_DELAY_MS = 100;
/**
 * Default cap on a retry delay, ms. It bounds how long a recovered etcd waits for
 * the next re-grant attempt, so it is kept well under a second.
 */
export const DEFAULT_MAX_DELAY_MS = 500;

/**
 * A resettable sequence of jittered exponential delays. `next()` returns the next
 * delay in ms; `reset()` starts over (the next delay is the initial one again).
 *
 * @example
 * const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 5000 });
 * for (;;) { try { await work(); backoff.reset(); break; } catch { await sleep(backoff.next()); } }
 */
export class Backoff {
  private readonly factory: ExponentialBackoff<unknown>;
  // undefined until the first next() after construction or reset().
  private current: IBackoff<unknown> | undefined;

  constructor(options: BackoffOptions = {}) {
    const initialDelay = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    const maxDelay = Math.max(initialDelay, options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
    this.factory = new ExponentialBackoff({ initialDelay, maxDelay });
  }

  /** The next delay in ms. */
  next(): number {
    this.current = this.current ? this.current.next(undefined) : this.factory.next();
    return this.current.duration;
  }

  /** Forgets past failures: the next delay is the initial one again. */
  reset(): void {
    this.current = undefined;
  }
}
