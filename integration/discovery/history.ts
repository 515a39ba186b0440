/**
 * Ground truth for "every change emitted exactly once": the changes a discovery
 * should have emitted, computed from etcd's own history (a plain etcd3 watch from
 * the discovery's first revision, replayed once through the same diff rules).
 */
import type { Etcd3 as BaseEtcd3 } from 'etcd3';
import { emptyResult, InstanceSet } from '../../lib/discovery/instance-set';
import { goNamingCodec } from '../../lib/service-record';

/**
 * Changes of `service` from `fromRevision` (exclusive, the discovery's listing
 * revision, at which `service` had no instance) until the event at `untilRevision`.
 */
export async function historyChanges(
  client: BaseEtcd3,
  service: string,
  fromRevision: number,
  untilRevision: number,
): Promise<string[]> {
  const set = new InstanceSet('', service, goNamingCodec);
  const out = emptyResult();
  const watcher = await client
    .watch()
    .prefix(`${service}/`)
    .startRevision(String(fromRevision + 1))
    .create();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('history watch did not reach the end revision in 10 s')),
        10_000,
      );
      watcher.on('data', res => {
        for (const ev of res.events) {
          const rev = Number(ev.kv.mod_revision);
          const isDelete = String(ev.type).toUpperCase() === 'DELETE';
          set.apply(ev.kv.key.toString(), isDelete ? undefined : ev.kv.value.toString(), rev, out);
          if (rev >= untilRevision) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
    });
  } finally {
    await watcher.cancel();
  }
  return out.changes.map(c => `${c.type}:${c.instance.id}=${c.instance.addr}`);
}
