/**
 * Watch audit: a healthy writer (the observer, straight to etcd) writes one new key
 * every {@link WRITE_INTERVAL_MS}; each client watches that prefix. Afterwards the
 * events each client delivered are compared with the writes etcd really applied,
 * giving events lost and events delivered twice.
 */
import type { Etcd3 as BaseEtcd3, Watcher } from 'etcd3';

/** Outcome of a watch audit. */
export interface WatchResult {
  /** Writes etcd applied under the prefix. */
  readonly applied: number;
  /** Put events delivered (duplicates included). */
  readonly delivered: number;
  /** Applied writes never delivered. */
  readonly lost: number;
  /** Deliveries beyond the first for a key. */
  readonly duplicated: number;
  /** Watch could not even be created (the client was broken from the start). */
  readonly failed?: string;
}

/** A watch being audited; see {@link startWatchAudit}. */
export interface WatchAudit {
  /** Waits (up to `settleMs`) until every applied write was delivered, then compares. */
  finish(observer: BaseEtcd3, settleMs: number): Promise<WatchResult>;
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));

/** ms between two writes of the event writer. */
export const WRITE_INTERVAL_MS = 200;

/**
 * Writes `<prefix><n>` one after another, {@link WRITE_INTERVAL_MS} apart, until
 * `stop()`. A write that fails is not retried (the audit lists what was applied).
 */
export function startEventWriter(writer: BaseEtcd3, prefix: string): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      await writer
        .put(`${prefix}${String(n).padStart(6, '0')}`)
        .value(String(n))
        .catch(() => undefined);
      await sleep(WRITE_INTERVAL_MS);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      // A write may hang while etcd is frozen; do not wait for it beyond a bound.
      await Promise.race([loop, sleep(3000)]);
    },
  };
}

/** Opens a prefix watch with `client` and counts the put events per key. */
export async function startWatchAudit(client: BaseEtcd3, prefix: string): Promise<WatchAudit> {
  const seen = new Map<string, number>();
  let watcher: Watcher | undefined;
  let failed: string | undefined;
  try {
    watcher = await client.watch().prefix(prefix).create();
    watcher.on('put', kv => {
      const key = kv.key.toString();
      seen.set(key, (seen.get(key) ?? 0) + 1);
    });
    // A watcher that emits 'error' was cancelled by etcd (e.g. compacted); raw
    // etcd3 gives up on it. Swallow it so the process does not crash: lost
    // events are what the audit reports.
    watcher.on('error', () => undefined);
  } catch (err) {
    failed = String(err);
  }
  return {
    async finish(observer, settleMs) {
      const applied = await observer.getAll().prefix(prefix).keys();
      const deadline = Date.now() + settleMs;
      while (!failed && applied.some(k => !seen.has(k)) && Date.now() < deadline) {
        await sleep(100);
      }
      let delivered = 0;
      let duplicated = 0;
      for (const n of seen.values()) {
        delivered += n;
        duplicated += n - 1;
      }
      const lost = applied.filter(k => !seen.has(k)).length;
      // Cancelling may hang on a dead connection; never wait for it.
      void watcher?.cancel().catch(() => undefined);
      return {
        applied: applied.length,
        delivered,
        lost,
        duplicated,
        ...(failed ? { failed } : {}),
      };
    },
  };
}
