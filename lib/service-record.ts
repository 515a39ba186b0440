/**
 * Registry records: the key layout and value format shared by registration and
 * discovery.
 *
 * The default layout is that of etcd's own Go package `go.etcd.io/etcd/client/v3/naming/endpoints`:
 * key `<prefix><service>/<id>`, value JSON `{"Op":0,"Addr":"host:port","Metadata":…}`,
 * so Go services using the official `etcd:///` resolver and Node services using this
 * library find each other.
 */
import { describeValue } from './validate';
import { InvalidOptionError, InvalidRecordError } from './errors';

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

/** Deepest metadata nesting the encoder writes (the registry accepts 100). */
const MAX_ENCODE_DEPTH = 200;
/** Deepest metadata nesting accepted when reading a record. */
const MAX_DECODE_DEPTH = 1000;
/** Largest `Op` Go's resolver can read (its type is `uint8`). */
const MAX_GO_OP = 255;

/**
 * The default codec: Go `naming/endpoints` JSON, `{"Op":0,"Addr":…,"Metadata":…}`,
 * written byte for byte as Go's `json.Marshal` writes it (see {@link goJson}) and
 * read as Go's resolver reads it (field names in any case, `Op` ignored).
 */
export const goNamingCodec: RecordCodec = {
  encode(instance) {
    return `{"Op":0,"Addr":${goJson(instance.addr)},"Metadata":${goJson(instance.metadata ?? null)}}`;
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
    // encoding/json matches field names case-insensitively; the last match wins.
    const fields: { op?: unknown; addr?: unknown; metadata?: unknown } = {};
    for (const [name, v] of Object.entries(parsed as Record<string, unknown>)) {
      const lower = name.replace(/[A-Z]/g, c => c.toLowerCase());
      if (lower === 'op' || lower === 'addr' || lower === 'metadata') {
        fields[lower] = v;
      }
    }
    const { op, addr, metadata } = fields;
    // Go's resolver ignores Op on stored values, but a value that does not fit its
    // uint8 makes json.Unmarshal fail, and the resolver then skips the record.
    if (
      op !== undefined &&
      op !== null &&
      !(typeof op === 'number' && Number.isInteger(op) && op >= 0 && op <= MAX_GO_OP)
    ) {
      throw new InvalidRecordError(key, 'Op is not a number in 0-255');
    }
    if (typeof addr !== 'string' || !isValidAddress(addr)) {
      throw new InvalidRecordError(key, 'Addr is missing or not host:port');
    }
    if (nestingDepth(metadata, MAX_DECODE_DEPTH) > MAX_DECODE_DEPTH) {
      // Go reads up to 10,000 levels; deeper than this would overflow the stack of
      // whoever compares or prints the metadata later.
      throw new InvalidRecordError(key, `Metadata nests deeper than ${MAX_DECODE_DEPTH} levels`);
    }
    return { service, id, addr, metadata: metadata ?? null };
  },
};

/** Nesting depth of parsed JSON, counted without recursion; stops counting past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') {
      continue;
    }
    max = Math.max(max, d + 1);
    if (max > limit) {
      return max;
    }
    for (const child of Object.values(v)) {
      stack.push([child, d + 1]);
    }
  }
  return max;
}

/**
 * JSON exactly as Go's `json.Marshal` writes a value decoded into `interface{}`:
 * object keys sorted by their UTF-8 bytes; `<`, `>`, `&`, U+2028 and U+2029
 * escaped as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`; control characters
 * as `\b \f \n \r \t` or `\u00XX` (lowercase hex, Go ≥ 1.22); a lone UTF-16
 * surrogate as `\ufffd` (Go's output for the equivalent invalid UTF-8); `-0` as
 * `-0`. Like `JSON.stringify`, `toJSON()` is honoured and `undefined`, functions and
 * symbols are left out of objects (`null` in arrays).
 * @throws InvalidOptionError for values JSON cannot hold (cycles, BigInt, deeper
 *   than 200 levels).
 */
export function goJson(value: unknown): string {
  const out: string[] = [];
  writeGo(value, out, new Set(), 0);
  return out.join('');
}

function writeGo(value: unknown, out: string[], ancestors: Set<object>, depth: number): void {
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    const json = (value as { toJSON(): unknown }).toJSON();
    if (json !== value) {
      if (depth >= MAX_ENCODE_DEPTH) {
        throw new InvalidOptionError('metadata', 'nests too deeply');
      }
      writeGo(json, out, ancestors, depth + 1);
      return;
    }
  }
  switch (typeof value) {
    case 'string':
      out.push(goString(value));
      return;
    case 'number':
      out.push(!Number.isFinite(value) ? 'null' : Object.is(value, -0) ? '-0' : String(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'bigint':
      throw new InvalidOptionError('metadata', 'cannot encode a BigInt');
    case 'undefined':
    case 'function':
    case 'symbol':
      out.push('null');
      return;
  }
  if (value === null) {
    out.push('null');
    return;
  }
  const obj = value as object;
  if (depth >= MAX_ENCODE_DEPTH || ancestors.has(obj)) {
    throw new InvalidOptionError('metadata', 'is cyclic or nests too deeply');
  }
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    obj.forEach((item, i) => {
      if (i > 0) out.push(',');
      writeGo(item, out, ancestors, depth + 1);
    });
    out.push(']');
  } else {
    const entries = Object.keys(obj)
      .map(k => [k, (obj as Record<string, unknown>)[k]] as const)
      .filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol')
      .sort(([a], [b]) => compareUtf8(a, b));
    out.push('{');
    entries.forEach(([k, v], i) => {
      if (i > 0) out.push(',');
      out.push(goString(k), ':');
      writeGo(v, out, ancestors, depth + 1);
    });
    out.push('}');
  }
  ancestors.delete(obj);
}

const SHORT_ESCAPES: Record<number, string> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
  0x22: '\\"',
  0x5c: '\\\\',
};

/** A JSON string literal as Go's encoder (with HTML escaping) writes it. */
function goString(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      esc = SHORT_ESCAPES[c] ?? `\\u00${c.toString(16).padStart(2, '0')}`;
    } else if (c === 0x2028 || c === 0x2029) {
      esc = `\\u${c.toString(16)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: written as is
        continue;
      }
      esc = '\\ufffd';
    }
    if (esc !== undefined) {
      out += s.slice(from, i) + esc;
      from = i + 1;
    }
  }
  return `${out}${s.slice(from)}"`;
}

/** Orders strings as Go's `sort` orders their UTF-8 bytes (that is, by code point). */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(i) as number;
    if (x !== y) {
      return x - y;
    }
    if (x > 0xffff) {
      i++;
    }
  }
  return a.length - b.length;
}

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

/** True for `host:port` with a port in 1-65535; host a name, IPv4, or bracketed IPv6 (with an optional zone). */
export function isValidAddress(addr: string): boolean {
  // IPv6 may carry a zone (`[fe80::1%eth0]:80`), as Go's and grpc-js's dialers accept.
  const m = /^(\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._~\-]{1,64})?\]|[A-Za-z0-9._\-]+):(\d{1,5})$/.exec(
    addr,
  );
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
