/**
 * The pure state behind a discovery: the records of one service, keyed by etcd
 * key, with the mod revision each was last applied at. It turns watch events and
 * re-lists into the changes a caller sees (added / updated / removed), decoding
 * records with a {@link RecordCodec} and skipping malformed ones.
 *
 * Invariants:
 * - `entries` holds every key under the service prefix that was last seen as a
 *   direct child (valid or not); `entry.instance` is undefined for a malformed record.
 * - An event whose mod revision is at or below the one already applied for its key
 *   changes nothing (a replayed or duplicated event).
 */
import { InvalidRecordError } from '../errors';
import { describeError } from '../policy/describe-error';
import { idFromKey, type RecordCodec, type ServiceInstance } from '../service-record';

/** One change of the discovered set. */
export type InstanceChange =
  | { readonly type: 'added'; readonly instance: ServiceInstance }
  | {
      readonly type: 'updated';
      readonly instance: ServiceInstance;
      readonly previous: ServiceInstance;
    }
  | { readonly type: 'removed'; readonly instance: ServiceInstance };

/** A record that could not be decoded. */
export interface InvalidRecord {
  /** The etcd key (without the client's namespace). */
  readonly key: string;
  /**
   * Why: an `InvalidRecordError` (`code: 'ERESILIENT_INVALID_RECORD'`). Whatever a
   * custom codec threw is wrapped in one, the original as `cause`.
   */
  readonly error: unknown;
}

/** A key/value read from etcd (a range result or a watch event's kv). */
export interface RawRecord {
  readonly key: string;
  readonly value: string;
  readonly modRevision: number;
}

/** What applying events or a re-list produced. */
export interface ApplyResult {
  readonly changes: InstanceChange[];
  readonly invalid: InvalidRecord[];
  /** Events dropped because their key already had that revision or a newer one. */
  readonly duplicates: number;
}

interface Entry {
  modRevision: number;
  /** Undefined if the record is malformed. */
  instance: ServiceInstance | undefined;
}

/** True if two instances carry the same address and metadata. */
export function sameInstance(a: ServiceInstance, b: ServiceInstance): boolean {
  if (a.addr !== b.addr) {
    return false;
  }
  if (a.metadata === b.metadata) {
    return true;
  }
  try {
    return JSON.stringify(a.metadata) === JSON.stringify(b.metadata);
  } catch {
    // A custom codec's metadata that cannot be serialised (too deep, throwing
    // toJSON or getter): treat it as changed rather than throw into the stream.
    return false;
  }
}

export class InstanceSet {
  private readonly entries = new Map<string, Entry>();
  /** Sorted snapshot, rebuilt lazily after a change. */
  private cached: readonly ServiceInstance[] | undefined;
  private validCount = 0;

  constructor(
    private readonly prefix: string,
    private readonly service: string,
    private readonly codec: RecordCodec,
  ) {}

  /** Number of valid instances. */
  get size(): number {
    return this.validCount;
  }

  /** The valid instances, sorted by id. The array is shared until the next change: do not mutate it. */
  snapshot(): readonly ServiceInstance[] {
    if (!this.cached) {
      const list: ServiceInstance[] = [];
      for (const e of this.entries.values()) {
        if (e.instance) {
          list.push(e.instance);
        }
      }
      list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.cached = Object.freeze(list);
    }
    return this.cached;
  }

  /** Applies a put (`value` defined) or a delete (`value` undefined) at `modRevision`. */
  apply(key: string, value: string | undefined, modRevision: number, out: ApplyResult): void {
    const id = idFromKey(this.prefix, this.service, key);
    if (id === undefined) {
      return; // not a direct child: a nested service's key
    }
    const entry = this.entries.get(key);
    if (entry && modRevision <= entry.modRevision) {
      (out as { duplicates: number }).duplicates++;
      return;
    }
    if (value === undefined) {
      if (entry) {
        this.entries.delete(key);
        this.settle(entry.instance, undefined, out);
      }
      return;
    }
    const instance = this.decode(key, value, id, out);
    this.entries.set(key, { modRevision, instance });
    this.settle(entry?.instance, instance, out);
  }

  /**
   * Replaces the whole state with a fresh list (a re-list) and reports the
   * difference. Records whose key and mod revision did not change are not decoded
   * again, so a malformed record is reported once, not on every re-list.
   */
  replace(records: Iterable<RawRecord>): ApplyResult {
    const out = emptyResult();
    const seen = new Set<string>();
    for (const r of records) {
      const id = idFromKey(this.prefix, this.service, r.key);
      if (id === undefined) {
        continue;
      }
      seen.add(r.key);
      const entry = this.entries.get(r.key);
      if (entry && entry.modRevision === r.modRevision) {
        continue; // unchanged
      }
      const instance = this.decode(r.key, r.value, id, out);
      this.entries.set(r.key, { modRevision: r.modRevision, instance });
      this.settle(entry?.instance, instance, out);
    }
    for (const [key, entry] of this.entries) {
      if (!seen.has(key)) {
        this.entries.delete(key);
        this.settle(entry.instance, undefined, out);
      }
    }
    return out;
  }

  private decode(
    key: string,
    value: string,
    id: string,
    out: ApplyResult,
  ): ServiceInstance | undefined {
    try {
      if (key.includes(NOT_UTF8)) {
        throw new InvalidRecordError(key, 'key is not valid UTF-8');
      }
      const instance = this.codec.decode(key, value, this.service, id);
      if (!instance || typeof instance.addr !== 'string') {
        throw new TypeError('codec returned no instance');
      }
      return instance;
    } catch (error) {
      out.invalid.push({
        key,
        error:
          error instanceof InvalidRecordError
            ? error
            : Object.assign(new InvalidRecordError(key, `codec: ${describeError(error)}`), {
                cause: error,
              }),
      });
      return undefined;
    }
  }

  /** Records the change from `before` to `after` (either may be undefined). */
  private settle(
    before: ServiceInstance | undefined,
    after: ServiceInstance | undefined,
    out: ApplyResult,
  ): void {
    if (before && after) {
      if (!sameInstance(before, after)) {
        out.changes.push({ type: 'updated', instance: after, previous: before });
        this.cached = undefined;
      }
    } else if (after) {
      this.validCount++;
      out.changes.push({ type: 'added', instance: after });
      this.cached = undefined;
    } else if (before) {
      this.validCount--;
      out.changes.push({ type: 'removed', instance: before });
      this.cached = undefined;
    }
  }
}

/** Marks a key that is not valid UTF-8: a lone surrogate never occurs in a decoded valid key. */
const NOT_UTF8 = '\uD800';

/**
 * A key's text, lossless: valid UTF-8 as is; otherwise the lossy text plus a marker and
 * the raw bytes in hex, so two keys that differ only in invalid bytes stay distinct
 * (and are reported as invalid records instead of merging into one instance).
 */
export function keyText(key: Buffer): string {
  const text = key.toString();
  return Buffer.byteLength(text) === key.length && Buffer.from(text).equals(key)
    ? text
    : `${text}${NOT_UTF8}${key.toString('hex')}`;
}

/** A fresh, empty {@link ApplyResult} to collect into. */
export function emptyResult(): ApplyResult {
  return { changes: [], invalid: [], duplicates: 0 };
}
