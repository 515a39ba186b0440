/** Small helpers shared by the client's integration tests. */
import { createClient, type Etcd3 } from '../../lib';
import { startEtcd, startProxy, type EtcdCluster, type FaultProxy } from '../../lib/testing';

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

/**
 * A single etcd member, our client reaching it through a fault proxy, and an observer
 * client connected directly (unaffected by the proxy's faults).
 */
export interface ProxiedNode {
  cluster: EtcdCluster;
  proxy: FaultProxy;
  client: Etcd3;
  observer: Etcd3;
  close(): Promise<void>;
}

export async function startProxiedNode(): Promise<ProxiedNode> {
  const cluster = await startEtcd({ members: 1 });
  const proxy = await startProxy({ target: cluster.endpoints[0] });
  const client = createClient({ hosts: proxy.endpoint });
  const observer = createClient({ hosts: cluster.endpoints });
  return {
    cluster,
    proxy,
    client,
    observer,
    async close() {
      await client.close();
      await observer.close();
      await proxy.close();
      await cluster.stop();
    },
  };
}
