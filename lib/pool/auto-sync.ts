/**
 * Opt-in endpoint auto-sync: refreshes the pool's endpoints from the cluster's
 * member list. A member's client URL is added only after it answered a status
 * call; an endpoint that sync added is dropped when the member list (which a
 * reachable member just returned) no longer has it. The endpoints the user configured
 * are never dropped: they may be a load balancer or NodePort that the member list
 * does not name. So reachable endpoints are never replaced by unreachable ones (the
 * go-zero #3448 failure: advertise URLs that the client cannot reach).
 */
import { Metadata } from '@grpc/grpc-js';
import type { Logger } from '../logger';
import type { Endpoint } from './endpoint';

export interface SyncTarget {
  endpoints: Endpoint[];
  exec<T>(service: 'Cluster', method: string, payload: unknown): Promise<T>;
}

interface Member {
  clientURLs?: string[];
  is_learner?: boolean;
}

const address = (url: string) => url.replace(/^https?:\/\//, '').replace(/\/$/, '');

/** Runs one sync; returns the endpoints added and removed (by URL). */
export async function syncEndpoints(
  pool: SyncTarget,
  seeds: ReadonlySet<string>,
  newEndpoint: (url: string) => Endpoint,
  probeTimeoutMs: number,
  log: Logger,
): Promise<{ added: string[]; removed: string[] }> {
  const { members } = await pool.exec<{ members: Member[] }>('Cluster', 'memberList', {});
  const urls = members.filter(m => !m.is_learner).flatMap(m => m.clientURLs ?? []);
  if (urls.length === 0) {
    return { added: [], removed: [] };
  }
  const secure = pool.endpoints[0]?.url.startsWith('https://');
  const listed = new Set(urls.map(address));
  const known = new Map(pool.endpoints.map(ep => [ep.address, ep]));
  const candidates = urls.filter(
    u => !known.has(address(u)) && u.startsWith('https://') === !!secure,
  );
  const added: Endpoint[] = [];
  await Promise.all(
    candidates.map(async url => {
      const ep = newEndpoint(url);
      if (await answers(ep, probeTimeoutMs)) {
        added.push(ep);
      } else {
        ep.close();
        log.warn({ endpoint: url }, 'member listed but unreachable; not added');
      }
    }),
  );
  const keep = (ep: Endpoint) => listed.has(ep.address) || seeds.has(ep.url);
  const kept = pool.endpoints.filter(keep);
  const removed = pool.endpoints.filter(ep => !keep(ep));
  pool.endpoints = [...kept, ...added];
  for (const ep of removed) {
    ep.close();
  }
  return { added: added.map(e => e.url), removed: removed.map(e => e.url) };
}

function answers(ep: Endpoint, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    (ep.client('Maintenance') as any).status(
      {},
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err: unknown) => resolve(!err),
    );
  });
}
