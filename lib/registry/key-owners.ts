/**
 * One key, one owner: at most one live registration per etcd key per client, so
 * closing one registration can never delete another's record (a config reload
 * that registers the new instance before closing the old one is refused instead
 * of silently losing the record).
 */
import type { Namespace } from 'etcd3';
import { InvalidOptionError } from '../errors';
import { namespacePrefixOf } from '../internals/etcd3';

// client identity (its connection pool, shared by its namespaces) -> full etcd key -> owner.
const owners = new WeakMap<object, Map<string, object>>();

function scope(client: Namespace): { byKey: Map<string, object>; full: (key: string) => string } {
  const identity = ((client as unknown as { pool?: object }).pool ?? client) as object;
  let byKey = owners.get(identity);
  if (!byKey) {
    byKey = new Map();
    owners.set(identity, byKey);
  }
  const prefix = namespacePrefixOf(client);
  // The full etcd key, byte for byte: `prefix: 'a/'` on the client and no prefix on
  // `client.namespace('a/')` are one key, and must be one claim.
  return { byKey, full: key => Buffer.concat([prefix, Buffer.from(key)]).toString('latin1') };
}

/**
 * Claims `key` on `client` for `owner`.
 * @throws InvalidOptionError (option `id`) if a live registration already owns it.
 * @returns a release function (idempotent; releases only this claim).
 */
export function claimKey(client: Namespace, key: string, owner: object): () => void {
  const { byKey, full } = scope(client);
  const k = full(key);
  if (byKey.has(k)) {
    throw new InvalidOptionError(
      'id',
      `key ${JSON.stringify(key)} is already registered on this client by a live registration; ` +
        'close() it before registering the same service and id again',
    );
  }
  byKey.set(k, owner);
  return () => {
    if (byKey.get(k) === owner) {
      byKey.delete(k);
    }
  };
}
