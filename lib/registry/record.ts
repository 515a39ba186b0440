/**
 * Registry records: the key layout and value format shared by registration and
 * discovery.
 *
 * The default layout is that of etcd's own Go package `go.etcd.io/etcd/client/v3/naming/endpoints`:
 * key `<prefix><service>/<id>`, value JSON `{"Op":0,"Addr":"host:port","Metadata":…}`,
 * so Go services using the official `etcd:///` resolver and Node services using this
 * library find each other.
 */
import { describeValue } from '../validate';
import { InvalidOptionError, InvalidRecordError } from '../errors';

/** One live instance of a service, as registered in etcd. */
export interface ServiceInstance {
  /** Service name, e.g. `orders`. */
  readonly service: string;
  /** Instance id, unique within the service; the last segment of the key. */
  readonly id: string;
  /** Address callers dial, `host:port` (IPv6 as `[::1]:port`). */
  readonly addr: string;
  /** Free-form JSON metadata, or `null`. */
  readonly metadata: unknown;
}

/**
 * Turns an instance into a key/value pair and back. Supply your own to use
 * another layout; `decode` must throw (any error) for a value it cannot read,
 * and such records are skipped with a warning, never crash discovery.
 */
export interface RecordCodec {
  /** Encodes the value stored under the instance's key. */
  encode(instance: ServiceInstance): string;
  /** Decodes a value read from `key`. */
  decode(key: string, value: string, service: string, id: string): ServiceInstance;
}

/** Go `naming/endpoints` operation codes. */
const enum GoOp {
  Add = 0,
  Delete = 1,
}

/** The default codec: Go `naming/endpoints` JSON, `{"Op":0,"Addr":…,"Metadata":…}`. */
export const goNamingCodec: RecordCodec = {
  encode(instance) {
    return JSON.stringify({
      Op: GoOp.Add,
      Addr: instance.addr,
      Metadata: instance.metadata ?? null,
    });
  },
  decode(key, value, service, id) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new InvalidRecordError(key, 'value is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidRecordError(key, 'value is not a JSON object');
    }
    const { Op, Addr, Metadata } = parsed as Record<string, unknown>;
    if (Op !== undefined && Op !== GoOp.Add) {
      throw new InvalidRecordError(
        key,
        `unsupported Op ${describeValue(typeof Op === 'string' ? Op : (JSON.stringify(Op) ?? typeof Op))}`,
      );
    }
    if (typeof Addr !== 'string' || !isValidAddress(Addr)) {
      throw new InvalidRecordError(key, 'Addr is missing or not host:port');
    }
    return { service, id, addr: Addr, metadata: Metadata ?? null };
  },
};

/** Default key prefix; empty, as Go's `endpoints.NewManager(client, "orders")` uses the bare target. */
export const DEFAULT_PREFIX = '';

// A service name or id is one key segment: printable, no '/', bounded length.
const SEGMENT = /^[A-Za-z0-9._:@\-]{1,200}$/;
const SERVICE = /^[A-Za-z0-9._\-]+(\/[A-Za-z0-9._\-]+)*$/;

/** Validates a service name (segments of `[A-Za-z0-9._-]`, `/`-separated, ≤ 200 chars). */
export function assertServiceName(service: unknown, option = 'service'): asserts service is string {
  if (
    typeof service !== 'string' ||
    service.length === 0 ||
    service.length > 200 ||
    !SERVICE.test(service)
  ) {
    throw new InvalidOptionError(
      option,
      `must be 1-200 characters of [A-Za-z0-9._-] in '/'-separated segments, got ${describeValue(service)}`,
    );
  }
}

/** Validates an instance id (one key segment of `[A-Za-z0-9._:@-]`, ≤ 200 chars). */
export function assertInstanceId(id: unknown, option = 'id'): asserts id is string {
  if (typeof id !== 'string' || !SEGMENT.test(id)) {
    throw new InvalidOptionError(
      option,
      `must be 1-200 characters of [A-Za-z0-9._:@-], got ${describeValue(id)}`,
    );
  }
}

/** Validates a key prefix: empty, or printable and ending in `/`. */
export function assertPrefix(prefix: unknown, option = 'prefix'): asserts prefix is string {
  if (
    typeof prefix !== 'string' ||
    prefix.length > 200 ||
    (prefix !== '' && !/^[\x21-\x7e]*\/$/.test(prefix))
  ) {
    throw new InvalidOptionError(
      option,
      `must be '' or printable ASCII ending in '/', got ${describeValue(prefix)}`,
    );
  }
}

/** True for `host:port` with a port in 1-65535; host a name, IPv4, or bracketed IPv6. */
export function isValidAddress(addr: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+):(\d{1,5})$/.exec(addr);
  if (!m || addr.length > 300) {
    return false;
  }
  const port = Number(m[2]);
  return port >= 1 && port <= 65535;
}

/** Validates an address (`host:port`). */
export function assertAddress(addr: unknown, option = 'addr'): asserts addr is string {
  if (typeof addr !== 'string' || !isValidAddress(addr)) {
    throw new InvalidOptionError(
      option,
      `must be host:port with a port in 1-65535, got ${describeValue(addr)}`,
    );
  }
}

/** The etcd key of an instance. */
export const instanceKey = (prefix: string, service: string, id: string): string =>
  `${prefix}${service}/${id}`;

/** The etcd key prefix under which all instances of `service` live. */
export const servicePrefix = (prefix: string, service: string): string => `${prefix}${service}/`;

/**
 * Splits a key read under `servicePrefix(prefix, service)` into its instance id, or
 * returns undefined if the key is not a direct child (e.g. a nested service's key).
 */
export function idFromKey(prefix: string, service: string, key: string): string | undefined {
  const p = servicePrefix(prefix, service);
  if (!key.startsWith(p)) {
    return undefined;
  }
  const id = key.slice(p.length);
  // Lenient on read: other writers (Go, OpenIM) use ids such as `[::1]:8080`.
  return id.length > 0 && id.length <= 1000 && !id.includes('/') ? id : undefined;
}
