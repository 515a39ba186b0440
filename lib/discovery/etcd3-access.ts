/** Moved to lib/internals/etcd3.ts (every touch of etcd3 internals lives there). */
export {
  namespacePrefixOf,
  openWatchStream,
  poolOf,
  prefixEnd,
  type OpenedWatchStream,
} from '../internals/etcd3';
