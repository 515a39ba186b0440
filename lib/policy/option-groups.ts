/**
 * The option groups both clients share (`keepalive`, `retry`, `breaker`, `rebuild`):
 * declared once, validated once. Each client passes its own defaults and the few
 * bounds that differ (`createEtcdClient` talks to etcd, whose server punishes pings
 * more often than every 5 s; `createGrpcClient` talks to any gRPC server and takes
 * whole milliseconds), so names, units and error messages are the same for both.
 */
import { InvalidOptionError } from '../errors';
import { booleanOption, numberOption } from '../validate';

/** gRPC keepalive, in our own terms (mapped to `grpc.keepalive_*` by `channel/keepalive.ts`). */
export interface KeepaliveOptions {
  /**
   * Interval between HTTP/2 pings while a call or stream is open, in ms. A server may
   * answer pings that come too often with `too_many_pings` and close the connection
   * (etcd: more often than every 5 s; Go servers: every 5 min by default), and
   * grpc-js then doubles the interval for good.
   */
  timeMs?: number;
  /**
   * How long a ping may go unanswered before the connection is closed, in ms. It must
   * be longer than the link's round trip, or a slow link is cut off as if dead.
   */
  timeoutMs?: number;
  /**
   * Ping with no open call. Most servers reject those (etcd: `PermitWithoutStream:
   * false`), so leave it off unless your server permits them.
   */
  permitWithoutCalls?: boolean;
}

/** Retries of safe calls. Writes are retried only when they provably never reached a server. */
export interface RetryOptions {
  /**
   * Retries after the first attempt (0 disables); separated by exponential backoff
   * with decorrelated jitter, and always bounded by the call's deadline.
   */
  maxAttempts?: number;
  /** First backoff delay between retries, in ms. */
  initialDelayMs?: number;
  /** Largest backoff delay between retries, in ms. */
  maxDelayMs?: number;
}

/** A circuit breaker per endpoint (etcd client) or per target (gRPC client). */
export interface BreakerOptions {
  /** Consecutive failures (errors or hangs) that open the breaker. */
  consecutiveFailures?: number;
  /** How long the breaker stays open before one probe call is let through (half-open), in ms. */
  halfOpenAfterMs?: number;
}

/** Channel rebuilds: closing a gRPC channel and dialing afresh. */
export interface RebuildOptions {
  /** Rebuild a channel that stays in TRANSIENT_FAILURE this long, in ms. */
  transientFailureMs?: number;
  /** Least time between two rebuilds after the channel was last READY, in ms. */
  initialBackoffMs?: number;
  /** Largest time between two rebuilds (jittered), in ms. */
  maxBackoffMs?: number;
}

/** The groups, as given (each already read into a plain object by the client). */
export interface OptionGroupsInput {
  keepalive?: KeepaliveOptions;
  retry?: RetryOptions;
  breaker?: BreakerOptions | false;
  rebuild?: RebuildOptions;
}

/** Every group with its defaults filled in. */
export interface ResolvedGroups<Breaker = Required<BreakerOptions>> {
  keepalive: Required<KeepaliveOptions>;
  retry: Required<RetryOptions>;
  breaker: Breaker;
  rebuild: Required<RebuildOptions>;
}

/** One client's defaults and the bounds in which the clients differ. */
export interface OptionGroupRules {
  readonly defaults: ResolvedGroups;
  /** Least `keepalive.timeMs`. */
  readonly minKeepaliveTimeMs: number;
  /** Largest `breaker.consecutiveFailures`. */
  readonly maxConsecutiveFailures: number;
  /** Durations in whole milliseconds only. */
  readonly wholeMs: boolean;
}

/**
 * Validates the groups and fills defaults; `breaker: false` (no breaker) stays false.
 * Throws {@link InvalidOptionError} naming the first bad field (`retry.maxDelayMs`).
 */
export function resolveOptionGroups(
  input: OptionGroupsInput & { breaker?: BreakerOptions },
  rules: OptionGroupRules,
): ResolvedGroups;
export function resolveOptionGroups(
  input: OptionGroupsInput,
  rules: OptionGroupRules,
): ResolvedGroups<Required<BreakerOptions> | false>;
export function resolveOptionGroups(
  input: OptionGroupsInput,
  rules: OptionGroupRules,
): ResolvedGroups<Required<BreakerOptions> | false> {
  const { defaults: d, wholeMs } = rules;
  const ms = (name: string, value: unknown, def: number, min: number) =>
    numberOption(name, value, def, { min, integer: wholeMs });
  const count = (name: string, value: unknown, def: number, min: number, max: number) =>
    numberOption(name, value, def, { min, max, integer: true });
  const k = input.keepalive ?? {};
  const r = input.retry ?? {};
  const b = input.breaker;
  const rb = input.rebuild ?? {};
  const resolved: ResolvedGroups<Required<BreakerOptions> | false> = {
    keepalive: {
      timeMs: ms('keepalive.timeMs', k.timeMs, d.keepalive.timeMs, rules.minKeepaliveTimeMs),
      timeoutMs: ms('keepalive.timeoutMs', k.timeoutMs, d.keepalive.timeoutMs, 1),
      permitWithoutCalls: booleanOption(
        'keepalive.permitWithoutCalls',
        k.permitWithoutCalls,
        d.keepalive.permitWithoutCalls,
      ),
    },
    retry: {
      maxAttempts: count('retry.maxAttempts', r.maxAttempts, d.retry.maxAttempts, 0, 100),
      initialDelayMs: ms('retry.initialDelayMs', r.initialDelayMs, d.retry.initialDelayMs, 0),
      maxDelayMs: ms('retry.maxDelayMs', r.maxDelayMs, d.retry.maxDelayMs, 0),
    },
    breaker: b === false ? false : resolveBreaker(b ?? {}, rules, ms, count),
    rebuild: {
      transientFailureMs: ms(
        'rebuild.transientFailureMs',
        rb.transientFailureMs,
        d.rebuild.transientFailureMs,
        0,
      ),
      initialBackoffMs: ms(
        'rebuild.initialBackoffMs',
        rb.initialBackoffMs,
        d.rebuild.initialBackoffMs,
        0,
      ),
      maxBackoffMs: ms('rebuild.maxBackoffMs', rb.maxBackoffMs, d.rebuild.maxBackoffMs, 0),
    },
  };
  if (resolved.retry.maxDelayMs < resolved.retry.initialDelayMs) {
    throw new InvalidOptionError('retry.maxDelayMs', 'must be >= retry.initialDelayMs');
  }
  if (resolved.rebuild.maxBackoffMs < resolved.rebuild.initialBackoffMs) {
    throw new InvalidOptionError('rebuild.maxBackoffMs', 'must be >= rebuild.initialBackoffMs');
  }
  return resolved;
}

function resolveBreaker(
  b: BreakerOptions,
  rules: OptionGroupRules,
  ms: (name: string, value: unknown, def: number, min: number) => number,
  count: (name: string, value: unknown, def: number, min: number, max: number) => number,
): Required<BreakerOptions> {
  const d = rules.defaults.breaker;
  return {
    consecutiveFailures: count(
      'breaker.consecutiveFailures',
      b.consecutiveFailures,
      d.consecutiveFailures,
      1,
      rules.maxConsecutiveFailures,
    ),
    halfOpenAfterMs: ms('breaker.halfOpenAfterMs', b.halfOpenAfterMs, d.halfOpenAfterMs, 1),
  };
}
