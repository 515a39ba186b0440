/**
 * Options of {@link createGrpcClient}, their defaults and validation. Names and
 * units follow the etcd client's options (`callTimeoutMs`, `keepalive.timeMs`, ...).
 */
import { describeValue, numberOption, optionKeys } from '../validate';
import { describeError } from '../policy/describe-error';
import {
  resolveOptionGroups,
  type BreakerOptions,
  type KeepaliveOptions,
  type OptionGroupRules,
  type RebuildOptions,
  type RetryOptions,
} from '../policy/option-groups';
import { rejectUnknownKeys } from '../policy/unknown-keys';
import {
  ChannelCredentials,
  credentials as grpcCredentials,
  type ChannelOptions,
  type Interceptor,
} from '@grpc/grpc-js';
import { InvalidOptionError } from '../errors';
import { isLogger, noopLogger, type Logger } from '../logger';
import { validateTracerProvider } from '../tracing/create-tracer';
import type { TracerProviderLike } from '../tracing/otel';

/** Options of `createGrpcClient(ServiceClient, target, options)`. */
export interface GrpcClientOptions {
  /** Channel credentials. Defaults to `credentials.createInsecure()`. */
  credentials?: ChannelCredentials;
  /** Extra grpc-js channel options; they win over ours on conflict. Defaults to none. */
  channelOptions?: ChannelOptions;
  /** Your interceptors; they run once per attempt, inside ours. Defaults to none. */
  interceptors?: Interceptor[];
  /** Deadline given to every unary call that has none, in ms. Defaults to 5000. */
  callTimeoutMs?: number;
  /**
   * Methods that may be retried after they reached a server (safe to repeat), by
   * name (`'GetUser'`, as in the .proto or the client) or full path
   * (`'/pkg.Users/GetUser'`). Other methods are retried only when the call provably
   * never left this process (no connection, no address, refused stream, open breaker).
   * Defaults to none.
   */
  idempotentMethods?: string[];
  /**
   * gRPC keepalive. Defaults: `timeMs` 30000 (servers may enforce a minimum; Go: 5 min
   * by default), `timeoutMs` 10000, `permitWithoutCalls` false (most servers reject
   * pings with no call in flight, `too_many_pings`).
   */
  keepalive?: KeepaliveOptions;
  /**
   * Retries of a call: `maxAttempts` counts the retries after the first attempt, and
   * never waits past the call's deadline. Defaults: `maxAttempts` 3, `initialDelayMs`
   * 50, `maxDelayMs` 1000.
   */
  retry?: RetryOptions;
  /**
   * The target's circuit breaker (it counts UNAVAILABLE / DEADLINE_EXCEEDED attempts;
   * at most 10000 consecutive failures), or `false` for none. Defaults:
   * `consecutiveFailures` 5, `halfOpenAfterMs` 5000.
   */
  breaker?: BreakerOptions | false;
  /** A channel CONNECTING longer than this is rebuilt, in ms (grpc-js has no connect timeout). Defaults to 5000. */
  connectTimeoutMs?: number;
  /**
   * Channel rebuilds. Defaults: `transientFailureMs` 5000, `initialBackoffMs` 200,
   * `maxBackoffMs` 10000.
   */
  rebuild?: RebuildOptions;
  /** `close()` waits this long for calls in flight before closing the channel, in ms. Defaults to 5000. */
  closeTimeoutMs?: number;
  /** pino-compatible logger; logs through `child({ component: 'grpc-client', target })`. Defaults to none. */
  logger?: Logger;
  /**
   * OpenTelemetry `TracerProvider`: one CLIENT span per call (attempts as events), and the
   * W3C `traceparent` sent in the request metadata. Defaults to the global provider of
   * `@opentelemetry/api` when that optional peer is installed, else no tracing.
   */
  tracerProvider?: TracerProviderLike;
}

/** Options with defaults filled in. */
export interface ResolvedGrpcClientOptions {
  readonly credentials: ChannelCredentials;
  readonly channelOptions: ChannelOptions;
  readonly interceptors: Interceptor[];
  readonly callTimeoutMs: number;
  readonly idempotentMethods: ReadonlySet<string>;
  readonly keepalive: Required<KeepaliveOptions>;
  readonly retry: Required<RetryOptions>;
  readonly breaker: Required<BreakerOptions> | false;
  readonly connectTimeoutMs: number;
  readonly rebuild: Required<RebuildOptions>;
  readonly closeTimeoutMs: number;
  readonly logger: Logger;
}

const TOP_LEVEL_KEYS = [
  'credentials',
  'channelOptions',
  'interceptors',
  'callTimeoutMs',
  'idempotentMethods',
  'keepalive',
  'retry',
  'breaker',
  'connectTimeoutMs',
  'rebuild',
  'closeTimeoutMs',
  'logger',
  'tracerProvider',
] as const;
/** createGrpcClient's defaults and bounds of the shared option groups (any gRPC server). */
const GROUP_RULES: OptionGroupRules = {
  defaults: {
    keepalive: { timeMs: 30_000, timeoutMs: 10_000, permitWithoutCalls: false },
    retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 1000 },
    breaker: { consecutiveFailures: 5, halfOpenAfterMs: 5000 },
    rebuild: { transientFailureMs: 5000, initialBackoffMs: 200, maxBackoffMs: 10_000 },
  },
  minKeepaliveTimeMs: 1,
  maxConsecutiveFailures: 10_000,
  wholeMs: true,
};
const GROUP_KEYS = {
  keepalive: ['timeMs', 'timeoutMs', 'permitWithoutCalls'],
  retry: ['maxAttempts', 'initialDelayMs', 'maxDelayMs'],
  breaker: ['consecutiveFailures', 'halfOpenAfterMs'],
  rebuild: ['transientFailureMs', 'initialBackoffMs', 'maxBackoffMs'],
} as const;

/**
 * A plain copy of `value`'s own keys, each read once inside a try/catch (a getter
 * that throws becomes `InvalidOptionError` naming `${path}${key}`). With `allowed`,
 * unknown keys are rejected first ("did you mean").
 */
function snapshot(value: unknown, path: string, allowed?: readonly string[]): Record<string, any> {
  const name = path.replace(/\.$/, '') || 'options';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, `must be an object, got ${describeValue(value)}`);
  }
  if (allowed) {
    rejectUnknownKeys(value, allowed, path);
  }
  const copy: Record<string, any> = {};
  for (const key of optionKeys(value, path)) {
    try {
      copy[key] = (value as Record<string, unknown>)[key];
    } catch (err) {
      throw new InvalidOptionError(`${path}${key}`, `could not be read: ${describeError(err)}`);
    }
  }
  return copy;
}

/**
 * The user's grpc-js channel options, checked: every value a string, finite number or
 * boolean (what grpc-js reads; `undefined` is dropped), and `grpc.service_config` a
 * JSON object.
 */
function channelOptionsOf(value: unknown): ChannelOptions {
  if (value === undefined) {
    return {};
  }
  const copy = snapshot(value, 'channelOptions.');
  const out: ChannelOptions = {};
  for (const [key, v] of Object.entries(copy)) {
    if (v === undefined) {
      continue;
    }
    const ok =
      typeof v === 'string' ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v));
    if (!ok) {
      throw new InvalidOptionError(
        `channelOptions.${key}`,
        `must be a string, a finite number or a boolean, got ${describeValue(v)}`,
      );
    }
    out[key] = v;
  }
  const sc = out['grpc.service_config'];
  if (sc !== undefined) {
    let parsed: unknown;
    try {
      parsed = typeof sc === 'string' ? JSON.parse(sc) : undefined;
    } catch (err) {
      throw new InvalidOptionError(
        'channelOptions.grpc.service_config',
        `is not valid JSON: ${describeError(err)}`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidOptionError(
        'channelOptions.grpc.service_config',
        'must be a JSON object (a gRPC service config) in a string',
      );
    }
  }
  return out;
}

/**
 * Validates and fills defaults. Throws {@link InvalidOptionError} naming the field for
 * a bad value, an unknown key (with a "did you mean"), or a getter that throws; never
 * anything else. Reads every option exactly once.
 */
export function resolveGrpcClientOptions(
  options: GrpcClientOptions = {},
): ResolvedGrpcClientOptions {
  const input = snapshot(options, '', TOP_LEVEL_KEYS) as GrpcClientOptions;
  const group = <K extends keyof typeof GROUP_KEYS>(name: K): Record<string, any> =>
    input[name] === undefined ? {} : snapshot(input[name], `${name}.`, GROUP_KEYS[name]);
  const keepalive = group('keepalive');
  const retry = group('retry');
  const rebuild = group('rebuild');
  const breaker = input.breaker === false ? false : group('breaker');
  if (input.credentials !== undefined && !(input.credentials instanceof ChannelCredentials)) {
    throw new InvalidOptionError('credentials', 'must be grpc-js ChannelCredentials');
  }
  if (input.logger !== undefined && !isLogger(input.logger)) {
    throw new InvalidOptionError(
      'logger',
      'must be a pino-compatible logger (error, warn, info, debug, child)',
    );
  }
  validateTracerProvider(input.tracerProvider);
  const methods = input.idempotentMethods ?? [];
  if (!Array.isArray(methods) || !methods.every(m => typeof m === 'string' && m.length > 0)) {
    throw new InvalidOptionError('idempotentMethods', 'must be an array of method names or paths');
  }
  const interceptors = input.interceptors ?? [];
  if (!Array.isArray(interceptors) || !interceptors.every(i => typeof i === 'function')) {
    throw new InvalidOptionError('interceptors', 'must be an array of grpc-js interceptors');
  }
  const resolved: ResolvedGrpcClientOptions = {
    credentials: input.credentials ?? grpcCredentials.createInsecure(),
    channelOptions: channelOptionsOf(input.channelOptions),
    interceptors,
    callTimeoutMs: numberOption('callTimeoutMs', input.callTimeoutMs, 5000, {
      min: 1,
      integer: true,
    }),
    idempotentMethods: new Set(methods),
    ...resolveOptionGroups({ keepalive, retry, breaker, rebuild }, GROUP_RULES),
    connectTimeoutMs: numberOption('connectTimeoutMs', input.connectTimeoutMs, 5000, {
      min: 1,
      integer: true,
    }),
    closeTimeoutMs: numberOption('closeTimeoutMs', input.closeTimeoutMs, 5000, {
      min: 0,
      integer: true,
    }),
    logger: input.logger ?? noopLogger,
  };
  return resolved;
}
