/** Helpers for the discovery integration tests. */
import type { Namespace } from 'etcd3';
import type { Discovery } from '../../lib/discovery/discovery';

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until it is truthy; throws after `timeoutMs`. */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what = 'condition',
  everyMs = 25,
): Promise<number> {
  const start = Date.now();
  for (let i = 0; i < 1_000_000; i++) {
    if (await fn()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) break;
    await sleep(everyMs);
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`);
}

/** `{"Op":0,"Addr":...}` */
export const goRecord = (addr: string, metadata: unknown = null) =>
  JSON.stringify({ Op: 0, Addr: addr, Metadata: metadata });

/** What etcd holds under `<service>/` right now, as sorted `id=addr` strings (valid Go records only). */
export async function etcdInstances(client: Namespace, service: string): Promise<string[]> {
  const kvs = await client.getAll().prefix(`${service}/`).strings();
  return Object.entries(kvs)
    .filter(([, v]) => {
      try {
        const p = JSON.parse(v);
        return p && p.Op === 0 && typeof p.Addr === 'string';
      } catch {
        return false;
      }
    })
    .map(([k, v]) => `${k.slice(service.length + 1)}=${JSON.parse(v).Addr}`)
    .sort();
}

/** A discovery's snapshot as sorted `id=addr` strings. */
export const discovered = (d: Discovery) =>
  d
    .snapshot()
    .map(i => `${i.id}=${i.addr}`)
    .sort();
