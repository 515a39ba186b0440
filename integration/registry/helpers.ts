/** Helpers shared by the registry's integration tests. */
import type { Namespace } from 'etcd3';

export { sleep, waitFor } from '../shared';

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
