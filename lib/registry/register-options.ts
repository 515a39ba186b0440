/**
 * Options of {@link register} and their validation: everything is checked, and
 * the record encoded once, before anything is written to etcd.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Namespace } from 'etcd3';
import { InvalidOptionError } from '../errors';
import { isLogger, noopLogger, type Logger } from '../logger';
import {
  resolveHealthCheck,
  type HealthCheckOptions,
  type ResolvedHealthCheck,
} from './health-check';
import {
  LEASE_TUNING_KEYS,
  resolveLeaseOptions,
  type DurableLeaseOptions,
  type ResolvedLeaseOptions,
} from './lease-options';
import {
  DEFAULT_PREFIX,
  assertAddress,
  assertInstanceId,
  assertPrefix,
  assertServiceName,
  goNamingCodec,
  instanceKey,
  type RecordCodec,
  type ServiceInstance,
} from '../service-record';
import { assertJsonSerializable } from './serializable';
import { describeError } from '../policy/describe-error';
import { assertEtcdClient } from '../policy/etcd-client';
import { readKnownOptions, readMember } from '../policy/read-options';

/** Every key of {@link RegisterOptions} (typos are rejected with a "did you mean"). */
export const REGISTER_KEYS = [
  'service',
  'addr',
  'id',
  'metadata',
  'ttlSeconds',
  'prefix',
  'codec',
  'healthCheck',
  'selfHeal',
  'sharedLease',
  'lease',
  'logger',
] as const;
const HEALTH_CHECK_KEYS = ['tcp', 'fn', 'intervalMs', 'timeoutMs'] as const;

/** Default registration TTL, seconds (as go-zero; a crashed instance disappears within it). */
export const DEFAULT_TTL_SECONDS = 10;
/** Largest encoded record accepted, bytes (etcd's default request limit is 1.5 MiB). */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** Options of {@link register}. */
export interface RegisterOptions {
  /** Service name, e.g. `orders` or `team/orders` (segments of `[A-Za-z0-9._-]`). Required. */
  readonly service: string;
  /** Address callers dial, `host:port` (IPv6 as `[::1]:8080`). Required. */
  readonly addr: string;
  /**
   * Instance id, the key's last segment (`[A-Za-z0-9._:@-]`, ≤ 200 chars). Defaults
   * to `<hostname>-<pid>-<random>`, generated once per registration, so the key
   * stays the same across lease re-grants.
   */
  readonly id?: string;
  /** JSON metadata stored in the record (`Metadata` in Go's format). Defaults to `null`. */
  readonly metadata?: unknown;
  /** Lease TTL, whole seconds 2-3600. Defaults to 10. */
  readonly ttlSeconds?: number;
  /** Key prefix: `''` or ending in `/`. Defaults to `''` (Go's `endpoints.NewManager(c, "svc")` layout). */
  readonly prefix?: string;
  /** Record layout. Defaults to {@link goNamingCodec} (`{"Op":0,"Addr":…,"Metadata":…}`). */
  readonly codec?: RecordCodec;
  /** Withdraw the record while this check fails. Defaults to none (always published). */
  readonly healthCheck?: HealthCheckOptions;
  /** Put the key back when someone else deletes or overwrites it. Defaults to true. */
  readonly selfHeal?: boolean;
  /**
   * Share one lease (one keepalive stream) with every other registration on the
   * same client and TTL. Defaults to true. The first registration's `lease` tuning
   * and logger apply to a shared lease.
   */
  readonly sharedLease?: boolean;
  /** Tuning of the lease (keepalive, deadlines, backoff); see {@link DurableLeaseOptions}. */
  readonly lease?: Omit<DurableLeaseOptions, 'ttlSeconds' | 'logger'>;
  /** pino-compatible logger. Defaults to none. */
  readonly logger?: Logger;
}

/** Validated options, with the key and encoded value. */
export interface ResolvedRegistration {
  readonly instance: ServiceInstance;
  readonly key: string;
  readonly value: string;
  readonly leaseOptions: DurableLeaseOptions;
  readonly lease: ResolvedLeaseOptions;
  readonly healthCheck: ResolvedHealthCheck | undefined;
  readonly selfHeal: boolean;
  readonly sharedLease: boolean;
  readonly logger: Logger;
}

/** `<hostname>-<pid>-<6 hex>`, reduced to the characters an instance id allows. */
export function defaultInstanceId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 150) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Validates `client` and `options`; throws {@link InvalidOptionError} on the first problem. */
export function resolveRegisterOptions(
  client: Namespace,
  options: RegisterOptions,
): ResolvedRegistration {
  assertEtcdClient(client);
  if (options === undefined) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  // A plain copy, each field read once: getters and Proxy traps cannot throw later,
  // and a typo (`ttl` for `ttlSeconds`) is not silently ignored.
  const o = readKnownOptions(options, REGISTER_KEYS, 'options', '') as unknown as RegisterOptions;
  assertServiceName(o.service);
  assertAddress(o.addr);
  const id = o.id ?? defaultInstanceId();
  assertInstanceId(id);
  const prefix = o.prefix ?? DEFAULT_PREFIX;
  assertPrefix(prefix);
  const metadata = o.metadata ?? null;
  assertJsonSerializable(metadata, 'metadata');
  const codec = o.codec ?? goNamingCodec;
  if (
    typeof codec !== 'object' ||
    codec === null ||
    typeof readMember(codec, 'encode', 'codec') !== 'function' ||
    typeof readMember(codec, 'decode', 'codec') !== 'function'
  ) {
    throw new InvalidOptionError('codec', 'must have encode() and decode() functions');
  }
  if (o.logger !== undefined && !isLogger(o.logger)) {
    throw new InvalidOptionError(
      'logger',
      'must be a pino-compatible logger (error/warn/info/debug/child)',
    );
  }
  for (const flag of ['selfHeal', 'sharedLease'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') {
      throw new InvalidOptionError(flag, `must be a boolean, got ${typeof o[flag]}`);
    }
  }
  const lease0 = readKnownOptions(o.lease, LEASE_TUNING_KEYS, 'lease', 'lease.');
  if (lease0.backoff !== undefined) {
    lease0.backoff = readKnownOptions(
      lease0.backoff,
      ['initialDelayMs', 'maxDelayMs'],
      'lease.backoff',
      'lease.backoff.',
    );
  }
  const leaseOptions: DurableLeaseOptions = {
    ...lease0,
    ttlSeconds: o.ttlSeconds ?? DEFAULT_TTL_SECONDS,
    logger: o.logger,
  };
  const lease = resolveLeaseOptions(leaseOptions, '');
  const instance: ServiceInstance = { service: o.service, id, addr: o.addr, metadata };
  const value = encode(codec, instance);
  return {
    instance,
    key: instanceKey(prefix, o.service, id),
    value,
    leaseOptions,
    lease,
    healthCheck:
      o.healthCheck === undefined
        ? undefined
        : resolveHealthCheck(
            readKnownOptions(o.healthCheck, HEALTH_CHECK_KEYS, 'healthCheck', 'healthCheck.'),
            o.addr,
          ),
    selfHeal: o.selfHeal ?? true,
    sharedLease: o.sharedLease ?? true,
    logger: o.logger ?? noopLogger,
  };
}

function encode(codec: RecordCodec, instance: ServiceInstance): string {
  let value: unknown;
  try {
    value = codec.encode(instance);
  } catch (err) {
    throw new InvalidOptionError('codec', `encode() threw ${describeError(err)}`);
  }
  if (typeof value !== 'string') {
    throw new InvalidOptionError('codec', `encode() must return a string, got ${typeof value}`);
  }
  if (Buffer.byteLength(value) > MAX_RECORD_BYTES) {
    throw new InvalidOptionError(
      'metadata',
      `the encoded record exceeds ${MAX_RECORD_BYTES} bytes`,
    );
  }
  return value;
}
