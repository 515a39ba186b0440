/**
 * Small helpers of the registry components: bounded concurrency and call
 * deadlines (backoff: `lib/policy/backoff.ts`; events: `lib/events.ts`).
 * Internal; not exported from the package.
 */

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
