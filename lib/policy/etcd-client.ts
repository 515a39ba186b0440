/**
 * The check every entry point that takes an etcd client makes first: an `Etcd3`
 * (ours or etcd3's) or a `Namespace` of one, recognised by its `put()` and its lease
 * client. Anything else is an `InvalidOptionError`, before anything is registered.
 */
import { InvalidOptionError } from '../errors';
import { readMember } from './read-options';

/** Throws `InvalidOptionError(option)` unless `client` looks like an etcd3 client or namespace. */
export function assertEtcdClient(client: unknown, option = 'client'): void {
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof readMember(client, 'put', option) !== 'function' ||
    typeof readMember(client, 'leaseClient', option) !== 'object'
  ) {
    throw new InvalidOptionError(
      option,
      'must be an etcd3 Etcd3 or Namespace (or etcd3-resilient Etcd3)',
    );
  }
}
