/**
 * Small helpers shared by the registry components: unref'd timers, jittered
 * backoff on top of cockatiel, listener-safe event emission and bounded
 * concurrency. Internal; not exported from the package.
 */
import { describeValue } from '../validate';
import { ExponentialBackoff, type EventEmitter, type IBackoff } from 'cockatiel';
import type { Logger } from '../logger';

/** Backoff tuning shared by leases and registrations. */
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
 * A resettable sequence of jittered exponential delays (cockatiel's decorrelated
 * jitter). `next()` returns the next delay; `reset()` starts over.
 */
export class Backoff {
  private readonly factory: ExponentialBackoff<unknown>;
  // undefined until the first failure after construction or reset().
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

/**
 * Resolves after `ms` (an unref'd timer), or early when `signal` aborts. Never rejects.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Emits `value`, catching a listener that throws so user code can never break
 * the state machine that emitted the event. Such errors are logged at `error`.
 */
export function safeEmit<T>(
  emitter: EventEmitter<T>,
  value: T,
  logger: Logger,
  name: string,
): void {
  try {
    emitter.emit(value);
  } catch (err) {
    logger.error({ err, event: name }, 'event listener threw; ignored');
  }
}

/**
 * Runs `fn` over `items` with at most `limit` in flight; resolves with the
 * items whose call rejected (paired with the error), in input order.
 */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<Array<{ item: T; error: unknown }>> {
  const failures: Array<{ item: T; error: unknown; index: number }> = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index] as T;
      try {
        await fn(item);
      } catch (error) {
        failures.push({ item, error, index });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures.sort((a, b) => a.index - b.index).map(({ item, error }) => ({ item, error }));
}

/** `{ deadline }` call options `ms` from now. */
export const deadlineIn = (ms: number): { deadline: number } => ({ deadline: Date.now() + ms });

/** A short, secret-free description of an error for logs and event payloads. Never throws. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    return `${err.name}: ${err.message}`;
  }
  return describeValue(err);
}

export { describeValue };
