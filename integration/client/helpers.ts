/** Small helpers shared by the client's integration tests. */
import { sleep, waitFor as pollUntil } from '../shared';

export { sleep };

/** Runs `fn`, returning its outcome and how long it took; never throws. */
export async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ok: boolean; ms: number; value?: T; error?: unknown }> {
  const start = Date.now();
  try {
    const value = await fn();
    return { ok: true, ms: Date.now() - start, value };
  } catch (error) {
    return { ok: false, ms: Date.now() - start, error };
  }
}

/** Retries `fn` every `everyMs` until it resolves truthy, at most `timeoutMs`. */
export const waitFor = (
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<number> => pollUntil(fn, timeoutMs, everyMs);

/** Races `p` against a timer; resolves 'pending' if `p` has not settled by then. */
export function settledWithin<T>(p: Promise<T>, ms: number): Promise<'settled' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

export { startProxiedNode, type ProxiedNode } from '../shared';
