/**
 * Reads every record under a key prefix, in pages that all read the same
 * revision, so the result is one consistent snapshot however large it is (one
 * page of 10,000 records would approach grpc-js's 4 MiB default message limit).
 */
import type { Namespace } from 'etcd3';
import { keyText, type RawRecord } from './instance-set';
import { prefixEnd } from '../internals/etcd3';

/** A consistent listing: the records and the revision they were read at. */
export interface Listing {
  readonly records: RawRecord[];
  readonly revision: number;
}

/** Upper bound on pages, so a misbehaving server cannot loop us forever. */
const MAX_PAGES = 100_000;

/**
 * Lists every key under `keyPrefix` (relative to `client`'s namespace), `pageSize`
 * keys per range request. If the first page's revision is compacted before the
 * last page is read, the call fails (etcd's "required revision has been
 * compacted") and the caller lists again.
 */
export async function listPrefix(
  client: Namespace,
  keyPrefix: string,
  pageSize: number,
): Promise<Listing> {
  const records: RawRecord[] = [];
  const end = prefixEnd(Buffer.from(keyPrefix));
  let start: Buffer = Buffer.from(keyPrefix);
  let revision: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    let builder = client.getAll().inRange({ start, end }).limit(pageSize);
    if (revision !== undefined) {
      builder = builder.revision(revision);
    }
    const res = await builder.exec();
    revision ??= String(res.header.revision);
    for (const kv of res.kvs) {
      records.push({
        key: keyText(kv.key),
        value: kv.value.toString(),
        modRevision: Number(kv.mod_revision),
      });
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) {
      return { records, revision: Number(revision) };
    }
    start = Buffer.concat([last.key, Buffer.from([0])]);
  }
  throw new Error(`listing ${keyPrefix} did not finish within ${MAX_PAGES} pages`);
}
