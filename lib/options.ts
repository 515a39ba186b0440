/**
 * Options of the resilient client: etcd3's own `IOptions`, plus ours. Every
 * field has a default chosen for a service talking to an etcd cluster on a LAN;
 * all durations are in milliseconds.
 */
import { X509Certificate } from 'node:crypto';
import { Channel, credentials as grpcCredentials } from '@grpc/grpc-js';
import { createSecureContext } from 'node:tls';
import type { IOptions } from 'etcd3';
import { describeValue, numberOption, readOptionObject } from './validate';
import { rejectUnknownKeys } from './policy/unknown-keys';
import { InvalidOptionError } from './errors';
import { isLogger, Logger, noopLogger } from './logger';
import {
  resolveOptionGroups,
  type BreakerOptions,
  type KeepaliveOptions,
  type OptionGroupRules,
  type RebuildOptions,
  type RetryOptions,
} from './policy/option-groups';
import { validateTracerProvider } from './tracing/create-tracer';
import type { TracerProviderLike } from './tracing/otel';

export type { BreakerOptions, KeepaliveOptions, RebuildOptions, RetryOptions };

/** Options of {@link Etcd3} and {@link createClient}: etcd3's `IOptions` plus ours. */
export interface ResilientEtcdOptions extends Partial<IOptions> {
  /**
   * Deadline of every unary call, retries included, unless the call sets its own
   * `deadline` in its call options. Defaults to 5000 (5 s).
   */
  callTimeoutMs?: number;
  /**
   * How long a call may go unanswered on an endpoint before the pool checks that
   * endpoint (a status call on the same and on a fresh connection) and, for a read,
   * also sends it to the next endpoint even when the hedge budget is spent. On a slow
   * link it stretches to three recent round trips. No attempt is cut off at this
   * point: with one endpoint, or when every endpoint is slow, an attempt runs until
   * the call's deadline. (Reads are hedged much earlier, after the 95th percentile of
   * the endpoint's recent round trips, at least 20 ms.) Defaults to 1000 (1 s).
   */
  attemptTimeoutMs?: number;
  /**
   * How long a channel may stay CONNECTING before it is rebuilt, and the longest a
   * write waits for a connection. It stretches to two recent round trips on a slow
   * link, and doubles after each connect timeout in a row (at most 4x), so a handshake
   * slower than this still completes. etcd3's `dialTimeout`, if set, is used as this.
   * Defaults to 2000 (2 s).
   */
  connectTimeoutMs?: number;
  /**
   * gRPC keepalive. User `grpcOptions` keys `grpc.keepalive_*` win over these.
   * - `timeMs`: must be >= 5000, since etcd's server answers a ping more often than
   *   every 5 s with a strike and, after a few, closes the connection
   *   (`too_many_pings`). Defaults to 6000 (6 s): with the timeout, a dead connection
   *   under a watch or lease stream is found within about 11 s.
   * - `timeoutMs`: defaults to `callTimeoutMs` (5000, 5 s): a link whose round trip is
   *   longer than a call's deadline could not serve a call anyway.
   * - `permitWithoutCalls`: etcd's server rejects pings with no open call
   *   (`PermitWithoutStream: false`). Defaults to false.
   */
  keepalive?: KeepaliveOptions;
  /**
   * Retries of safe calls. In one round every endpoint whose breaker allows it is tried
   * once, with no delay between endpoints; `maxAttempts` counts the rounds after the
   * first, separated by the backoff. Defaults: `maxAttempts` 4, `initialDelayMs` 50,
   * `maxDelayMs` 1000.
   */
  retry?: RetryOptions;
  /**
   * Per-endpoint circuit breaker (at most 1000 consecutive failures). Defaults:
   * `consecutiveFailures` 3, `halfOpenAfterMs` 2000.
   */
  breaker?: BreakerOptions;
  /**
   * Rebuilds of an endpoint's gRPC channels. Defaults: `transientFailureMs` 1000,
   * `initialBackoffMs` 100, `maxBackoffMs` 3000.
   */
  rebuild?: RebuildOptions;
  /**
   * Refresh the endpoint list from the cluster's member list this often; 0 turns it off.
   * Reachable endpoints are never replaced by unreachable ones. Defaults to 0 (off).
   */
  autoSyncIntervalMs?: number;
  /** Longest `close()` waits for leases and watches to end before forcing. Defaults to 2000. */
  closeTimeoutMs?: number;
  /** A pino-compatible logger. Defaults to none (nothing is logged). */
  logger?: Logger;
  /**
   * OpenTelemetry `TracerProvider`: one CLIENT span per unary call (`etcdserverpb.KV/Range`),
   * attempts, retries and breaker rejections as span events. Defaults to the global
   * provider of `@opentelemetry/api` when that optional peer is installed, else no tracing.
   */
  tracerProvider?: TracerProviderLike;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  etcd3: IOptions;
  hosts: string[];
  callTimeoutMs: number;
  attemptTimeoutMs: number;
  connectTimeoutMs: number;
  keepalive: Required<KeepaliveOptions>;
  retry: Required<RetryOptions>;
  breaker: Required<BreakerOptions>;
  rebuild: Required<RebuildOptions>;
  autoSyncIntervalMs: number;
  closeTimeoutMs: number;
  logger: Logger;
  tracerProvider: TracerProviderLike | undefined;
}

const DEFAULT_HOST = '127.0.0.1:2379';

/** The etcd client's defaults and bounds of the shared option groups. */
function groupRules(callTimeoutMs: number): OptionGroupRules {
  return {
    defaults: {
      keepalive: { timeMs: 6000, timeoutMs: callTimeoutMs, permitWithoutCalls: false },
      retry: { maxAttempts: 4, initialDelayMs: 50, maxDelayMs: 1000 },
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 2000 },
      rebuild: { transientFailureMs: 1000, initialBackoffMs: 100, maxBackoffMs: 3000 },
    },
    minKeepaliveTimeMs: 5000, // etcd's server: at most one ping per 5 s
    maxConsecutiveFailures: 1000,
    wholeMs: false,
  };
}

/**
 * Every key of etcd3 1.1.2's `IOptions`, all accepted and handed on to etcd3. A
 * `Record` over `keyof IOptions`, so a key etcd3 adds or removes fails the typecheck.
 */
export const ETCD3_OPTION_KEYS: Readonly<Record<keyof IOptions, true>> = {
  hosts: true,
  auth: true,
  credentials: true,
  grpcOptions: true,
  dialTimeout: true,
  defaultCallOptions: true,
  faultHandling: true,
};

type OwnKey = Exclude<keyof ResilientEtcdOptions, keyof IOptions>;
/** Our own top-level keys (never handed to etcd3). Exhaustive by type, as above. */
const OWN_OPTION_KEYS: Readonly<Record<OwnKey, true>> = {
  callTimeoutMs: true,
  attemptTimeoutMs: true,
  connectTimeoutMs: true,
  keepalive: true,
  retry: true,
  breaker: true,
  rebuild: true,
  autoSyncIntervalMs: true,
  closeTimeoutMs: true,
  logger: true,
  tracerProvider: true,
};
const OWN_KEYS = Object.keys(OWN_OPTION_KEYS) as OwnKey[];
const TOP_KEYS = [...Object.keys(ETCD3_OPTION_KEYS), ...OWN_KEYS];

type Keys<T> = Readonly<Record<keyof NonNullable<T>, true>>;
/** The keys each nested options object may have; checked like the top level. */
const GROUP_KEYS = {
  keepalive: {
    timeMs: true,
    timeoutMs: true,
    permitWithoutCalls: true,
  } satisfies Keys<KeepaliveOptions>,
  retry: { maxAttempts: true, initialDelayMs: true, maxDelayMs: true } satisfies Keys<RetryOptions>,
  breaker: { consecutiveFailures: true, halfOpenAfterMs: true } satisfies Keys<BreakerOptions>,
  rebuild: {
    transientFailureMs: true,
    initialBackoffMs: true,
    maxBackoffMs: true,
  } satisfies Keys<RebuildOptions>,
  auth: { username: true, password: true, callOptions: true } satisfies Keys<IOptions['auth']>,
  credentials: { rootCertificate: true, privateKey: true, certChain: true } satisfies Keys<
    IOptions['credentials']
  >,
  faultHandling: { host: true, global: true, watchBackoff: true } satisfies Keys<
    IOptions['faultHandling']
  >,
};

/**
 * Reads the options once into plain copies (top level and every nested group that is
 * a plain object), so a throwing getter is an InvalidOptionError and nothing is read
 * twice; rejects unknown keys at every level.
 */
function readOptions(options: object): ResilientEtcdOptions {
  const input = readOptionObject(options, '');
  rejectUnknownKeys(input, TOP_KEYS, '');
  for (const [group, keys] of Object.entries(GROUP_KEYS)) {
    const value = input[group];
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      input[group] = readOptionObject(value, `${group}.`);
      rejectUnknownKeys(input[group] as object, Object.keys(keys), `${group}.`);
    }
  }
  return input as ResilientEtcdOptions;
}

/** Fills defaults and validates; throws {@link InvalidOptionError} on the first bad field. */
export function resolveOptions(options: ResilientEtcdOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const input = readOptions(options);
  const hosts = resolveHosts(input.hosts);
  const keepalive = input.keepalive ?? {};
  const retry = input.retry ?? {};
  const breaker = input.breaker ?? {};
  const rebuild = input.rebuild ?? {};
  for (const [name, group] of Object.entries({ keepalive, retry, breaker, rebuild })) {
    if (typeof group !== 'object' || group === null) {
      throw new InvalidOptionError(name, 'must be an object');
    }
  }
  if (input.logger !== undefined && !isLogger(input.logger)) {
    throw new InvalidOptionError(
      'logger',
      'must be a pino-compatible logger (error/warn/info/debug/child)',
    );
  }
  validateTracerProvider(input.tracerProvider);
  const callTimeoutMs = numberOption('callTimeoutMs', input.callTimeoutMs, 5000, { min: 1 });
  const groups = resolveOptionGroups(
    { keepalive, retry, breaker, rebuild },
    groupRules(callTimeoutMs),
  );
  const resolved: ResolvedOptions = {
    etcd3: {} as IOptions,
    hosts,
    callTimeoutMs,
    attemptTimeoutMs: numberOption(
      'attemptTimeoutMs',
      input.attemptTimeoutMs,
      Math.min(1000, callTimeoutMs),
      { min: 1 },
    ),
    connectTimeoutMs: numberOption(
      'connectTimeoutMs',
      input.connectTimeoutMs ?? input.dialTimeout,
      2000,
      { min: 1 },
    ),
    ...groups,
    autoSyncIntervalMs: numberOption('autoSyncIntervalMs', input.autoSyncIntervalMs, 0, { min: 0 }),
    closeTimeoutMs: numberOption('closeTimeoutMs', input.closeTimeoutMs, 2000, { min: 1 }),
    logger: input.logger ?? noopLogger,
    tracerProvider: input.tracerProvider,
  };
  if (input.auth !== undefined) {
    const { username, password } = input.auth ?? ({} as any);
    if (typeof username !== 'string' || username === '' || typeof password !== 'string') {
      // Never echo the password back.
      throw new InvalidOptionError(
        'auth',
        'must be { username: non-empty string, password: string }',
      );
    }
  }
  if (input.credentials !== undefined && !Buffer.isBuffer(input.credentials?.rootCertificate)) {
    throw new InvalidOptionError('credentials.rootCertificate', 'must be a Buffer (PEM)');
  }
  validatePassThrough(input);
  const etcd3: Record<string, unknown> = { ...input, hosts };
  for (const key of OWN_KEYS) {
    delete etcd3[key];
  }
  resolved.etcd3 = etcd3 as unknown as IOptions;
  return resolved;
}

/** `[http(s)://]host[:port][/]`; the scheme in any case. Nothing else (no user@, no path). */
const HOST_PATTERN = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,10}))?\/?$/i;

/**
 * Validates hosts and normalises each to `[scheme://]host[:port]` (scheme lower-cased,
 * trailing slash dropped). Ports must be 1-65535. Two spellings of one endpoint
 * (`h:2379`, `http://h:2379`, `HTTP://H:2379/`, `[::1]` and `[0:0::1]`) are duplicates.
 */
function resolveHosts(hosts: unknown): string[] {
  let list: unknown[];
  try {
    list =
      hosts === undefined
        ? [DEFAULT_HOST]
        : typeof hosts === 'string'
          ? [hosts]
          : Array.isArray(hosts)
            ? [...hosts]
            : [];
  } catch {
    throw new InvalidOptionError('hosts', 'cannot be read (an element getter threw)');
  }
  if (list.length === 0) {
    throw new InvalidOptionError('hosts', 'must be a host string or a non-empty array of them');
  }
  const normalised: string[] = [];
  const seen = new Map<string, string>();
  for (const h of list) {
    const m = typeof h === 'string' ? HOST_PATTERN.exec(h) : null;
    if (!m) {
      // A URL may carry credentials (`http://user:password@host`): never echo them.
      const shown =
        typeof h === 'string' ? h.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?.*@/s, '$1***@') : h;
      throw new InvalidOptionError(
        'hosts',
        `each host must be [http(s)://]host[:port], got ${describeValue(shown)}`,
      );
    }
    const [, scheme, host, portText] = m;
    const port = portText === undefined ? undefined : Number(portText);
    if (port !== undefined && (port < 1 || port > 65535)) {
      throw new InvalidOptionError('hosts', `port must be 1-65535, got ${describeValue(h)}`);
    }
    const prefix = scheme === undefined ? '' : `${scheme.toLowerCase()}://`;
    const out = `${prefix}${host}${port === undefined ? '' : `:${port}`}`;
    const key = endpointKey(scheme?.toLowerCase() ?? 'http', host, port);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new InvalidOptionError(
        'hosts',
        `duplicate endpoint: ${describeValue(h)} is the same as ${describeValue(earlier)}`,
      );
    }
    seen.set(key, h as string);
    normalised.push(out);
  }
  const secure = normalised.filter(h => h.startsWith('https://')).length;
  if (secure !== 0 && secure !== normalised.length) {
    throw new InvalidOptionError('hosts', 'cannot mix https:// and plaintext hosts');
  }
  return normalised;
}

/** One key per endpoint: WHATWG URL lower-cases names and canonicalises IP addresses. */
function endpointKey(scheme: string, host: string, port: number | undefined): string {
  try {
    return `${scheme}://${new URL(`http://${host}`).hostname}:${port ?? ''}`;
  } catch {
    return `${scheme}://${host.toLowerCase()}:${port ?? ''}`;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const hasMethod = (v: unknown, m: string) => isObject(v) && typeof v[m] === 'function';

/**
 * Checks the etcd3 options we hand on to etcd3 and grpc-js, which would otherwise
 * fail later with a bare TypeError (or not at all until the first call).
 */
function validatePassThrough(input: ResilientEtcdOptions): void {
  const c = input.credentials;
  if (c !== undefined) {
    for (const key of ['privateKey', 'certChain'] as const) {
      if (c[key] !== undefined && !Buffer.isBuffer(c[key])) {
        throw new InvalidOptionError(`credentials.${key}`, 'must be a Buffer (PEM)');
      }
    }
    if ((c.privateKey === undefined) !== (c.certChain === undefined)) {
      throw new InvalidOptionError(
        'credentials',
        'privateKey and certChain must be given together',
      );
    }
    // Parse now: bad PEM would otherwise throw an OpenSSL error from deep in grpc-js, or
    // (for the CA) only fail every TLS handshake later. OpenSSL's messages hold no key material.
    try {
      new X509Certificate(c.rootCertificate);
    } catch (err) {
      throw new InvalidOptionError(
        'credentials.rootCertificate',
        `is not a PEM certificate (${(err as Error).message})`,
      );
    }
    if (c.privateKey !== undefined) {
      try {
        createSecureContext({ key: c.privateKey, cert: c.certChain });
      } catch (err) {
        throw new InvalidOptionError(
          'credentials',
          `privateKey/certChain are not a matching PEM key and certificate (${(err as Error).message})`,
        );
      }
    }
  }
  const f: unknown = input.faultHandling;
  if (f !== undefined) {
    if (!isObject(f)) {
      throw new InvalidOptionError('faultHandling', 'must be an object');
    }
    if (f.host !== undefined && typeof f.host !== 'function') {
      throw new InvalidOptionError('faultHandling.host', 'must be a function (host) => IPolicy');
    }
    if (f.global !== undefined && !hasMethod(f.global, 'execute')) {
      throw new InvalidOptionError('faultHandling.global', 'must be a cockatiel policy');
    }
    if (f.watchBackoff !== undefined && !hasMethod(f.watchBackoff, 'next')) {
      throw new InvalidOptionError('faultHandling.watchBackoff', 'must be a cockatiel backoff');
    }
  }
  if (input.grpcOptions !== undefined) {
    if (!isObject(input.grpcOptions)) {
      throw new InvalidOptionError('grpcOptions', 'must be an object of grpc-js channel options');
    }
    // grpc-js checks some options (e.g. grpc.service_config) only when a channel is
    // made, and we make ours after etcd3's constructor ran: try a throwaway channel
    // (it dials nothing until asked) so a bad option fails here, leaving nothing open.
    try {
      new Channel('127.0.0.1:1', grpcCredentials.createInsecure(), input.grpcOptions).close();
    } catch (err) {
      throw new InvalidOptionError(
        'grpcOptions',
        `rejected by grpc-js: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
      );
    }
  }
  const d: unknown = input.defaultCallOptions;
  if (d !== undefined && typeof d !== 'function' && !isObject(d)) {
    throw new InvalidOptionError(
      'defaultCallOptions',
      'must be call options or a function returning them',
    );
  }
}
