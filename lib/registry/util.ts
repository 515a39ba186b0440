/**
 * Small helpers shared by the registry components: unref'd timers and bounded
 * concurrency (backoff: `lib/policy/backoff.ts`; events: `lib/events.ts`). Internal; not exported from the package.
 */
import { describeValue } from '../validate';

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

export { describeError } from '../policy/describe-error';
export { Backoff, type BackoffOptions } from '../policy/backoff';
export { describeValue };
