/**
 * Discovery check: each client follows a service (instances a, b). While the
 * clients are cut off, a healthy observer removes a, adds c and d, writes filler
 * and compacts the store past every watch's revision. After the heal, is each
 * client's view {b, c, d}, and how soon?
 *
 * Raw etcd3 does it the careful way: list with `getAll().prefix()`, then watch from
 * the list's revision + 1, applying puts and deletes. Ours uses `discover()`.
 */
import type { Etcd3 as BaseEtcd3, Watcher } from 'etcd3';
import { goNamingCodec, idFromKey, instanceKey, servicePrefix } from '../../lib/service-record';
import { loadOurs, type OurDiscovery } from './ours';
import { CLIENTS, type Addon, type ClientName, type ScenarioEnv } from './scenario';

const BEFORE = ['a', 'b'];
const AFTER = ['b', 'c', 'd'];
const FILLER_WRITES = 50;
const POLL_MS = 100;
const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms));
const value = (service: string, id: string) =>
  goNamingCodec.encode({
    service,
    id,
    addr: `127.0.0.1:${9000 + id.charCodeAt(0)}`,
    metadata: null,
  });

/** A raw etcd3 service view: list, then watch from the list's revision + 1. */
async function rawView(
  client: BaseEtcd3,
  service: string,
): Promise<{ ids(): string[]; watcher: Watcher }> {
  const ids = new Set<string>();
  const res = await client.getAll().prefix(servicePrefix('', service)).exec();
  for (const kv of res.kvs) {
    const id = idFromKey('', service, kv.key.toString());
    if (id) ids.add(id);
  }
  const watcher = await client
    .watch()
    .prefix(servicePrefix('', service))
    .startRevision(String(Number(res.header.revision) + 1))
    .create();
  watcher.on('put', kv => {
    const id = idFromKey('', service, kv.key.toString());
    if (id) ids.add(id);
  });
  watcher.on('delete', kv => {
    const id = idFromKey('', service, kv.key.toString());
    if (id) ids.delete(id);
  });
  watcher.on('error', () => undefined); // etcd3 gives up on this watcher; a typical app logs it
  return { ids: () => [...ids].sort(), watcher };
}

/** Creates the add-on; see the file comment. */
export function discoveryAddon(): Addon {
  const views = {} as Record<ClientName, { ids(): string[] }>;
  const convergedAt = {} as Partial<Record<ClientName, number>>;
  let ours: OurDiscovery | undefined;
  let rawWatcher: Watcher | undefined;
  let healedAt = 0;
  const service = (env: ScenarioEnv, name: ClientName) => `${env.prefix}svc-${name}`;
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

  return {
    column: 'discovery converged',
    async setup(env) {
      for (const name of CLIENTS) {
        for (const id of BEFORE) {
          await env.observer
            .put(instanceKey('', service(env, name), id))
            .value(value(service(env, name), id));
        }
      }
      const raw = await rawView(env.clients.raw, service(env, 'raw'));
      rawWatcher = raw.watcher;
      views.raw = raw;
      ours = await loadOurs().discover(env.clients.ours, service(env, 'ours'));
      views.ours = ours;
    },
    async duringFault(env) {
      await sleep(1000); // the clients are cut off by now
      for (const name of CLIENTS) {
        const s = service(env, name);
        await env.observer.delete().key(instanceKey('', s, 'a'));
        await env.observer.put(instanceKey('', s, 'c')).value(value(s, 'c'));
        await env.observer.put(instanceKey('', s, 'd')).value(value(s, 'd'));
      }
      for (let i = 0; i < FILLER_WRITES; i++) {
        await env.observer.put(`${env.prefix}filler`).value(String(i));
      }
      const { header } = await env.observer.get(`${env.prefix}filler`).exec();
      await env.observer.kv.compact({ revision: header.revision, physical: true });
      env.marker(env.now(), 'compacted');
    },
    async afterHeal(env, at, until) {
      healedAt = at;
      while (env.now() < until && CLIENTS.some(n => convergedAt[n] === undefined)) {
        for (const name of CLIENTS) {
          if (convergedAt[name] === undefined && same(views[name]?.ids() ?? [], AFTER)) {
            convergedAt[name] = env.now();
            env.marker(env.now(), 'view correct', name);
          }
        }
        await sleep(POLL_MS);
      }
    },
    result() {
      const cell = (name: ClientName) => {
        const at = convergedAt[name];
        if (at !== undefined)
          return `yes, ${(Math.max(0, at - healedAt) / 1000).toFixed(1)} s after heal`;
        return `**no**: sees {${views[name]?.ids().join(', ') ?? '?'}}, truth {${AFTER.join(', ')}}`;
      };
      return { ours: cell('ours'), raw: cell('raw') };
    },
    async teardown() {
      await Promise.race([ours?.close().catch(() => undefined), sleep(3000)]);
      void rawWatcher?.cancel().catch(() => undefined);
    },
  };
}
