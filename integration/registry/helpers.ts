/** Helpers shared by the registry's integration tests. */
import type { Namespace } from 'etcd3';

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/**
 * Polls `fn` every `everyMs` until it returns true; resolves with the elapsed ms.
 * Bounded by `timeoutMs` (and a hard cap on iterations); throws when not met.
 */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 20,
): Promise<number> {
  const start = Date.now();
  for (let i = 0; i < 100_000 && Date.now() - start < timeoutMs; i++) {
    if (await fn()) {
      return Date.now() - start;
    }
    await sleep(everyMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** The key's current value via `observer`, or null; a failed read counts as unknown (undefined). */
export async function read(observer: Namespace, key: string): Promise<string | null | undefined> {
  try {
    return await observer
      .get(key)
      .options({ deadline: Date.now() + 1000 })
      .string();
  } catch {
    return undefined;
  }
}

export { etcdMetric } from '../../lib/testing/etcd-metrics';
