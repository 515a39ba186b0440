/**
 * Options of {@link createGrpcClient}, their defaults and validation. Names and
 * units follow the etcd client's options (`callTimeoutMs`, `keepalive.timeMs`, ...).
 */
import { booleanOption, describeValue, numberOption, optionKeys } from '../validate';
import { describeError } from '../policy/describe-error';
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
  keepalive?: {
    /** Ping interval while calls are active, in ms. Defaults to 30000. Servers may enforce a minimum (Go: 5 min by default). */
    timeMs?: number;
    /** Close the connection if a ping is not answered within this, in ms. Defaults to 10000. */
    timeoutMs?: number;
    /** Ping also with no call in flight. Defaults to false (most servers reject that with `too_many_pings`). */
    permitWithoutCalls?: boolean;
  };
  retry?: {
    /** Retries after the first attempt (0 disables). Defaults to 3. */
    maxAttempts?: number;
    /** First backoff, in ms; exponential with decorrelated jitter. Defaults to 50. */
    initialDelayMs?: number;
    /** Largest backoff, in ms. Defaults to 1000. Never waits past the call's deadline. */
    maxDelayMs?: number;
  };
  /** The target's circuit breaker, or `false` for none. */
  breaker?:
    | {
        /** Opens after this many consecutive UNAVAILABLE / DEADLINE_EXCEEDED attempts. Defaults to 5. */
        consecutiveFailures?: number;
        /** Lets one call through after this long open, in ms. Defaults to 5000. */
        halfOpenAfterMs?: number;
      }
    | false;
  /** A channel CONNECTING longer than this is rebuilt, in ms (grpc-js has no connect timeout). Defaults to 5000. */
  connectTimeoutMs?: number;
  rebuild?: {
    /** A channel in TRANSIENT_FAILURE longer than this is rebuilt, in ms. Defaults to 5000. */
    transientFailureMs?: number;
    /** Least time between two rebuilds, growing exponentially, in ms. Defaults to 200. */
    initialBackoffMs?: number;
    /** Largest time between two rebuilds, in ms. Defaults to 10000. */
    maxBackoffMs?: number;
  };
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
  readonly keepalive: { timeMs: number; timeoutMs: number; permitWithoutCalls: boolean };
  readonly retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };
  readonly breaker: { consecutiveFailures: number; halfOpenAfterMs: number } | false;
  readonly connectTimeoutMs: number;
  readonly rebuild: { transientFailureMs: number; initialBackoffMs: number; maxBackoffMs: number };
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
    keepalive: {
      timeMs: numberOption('keepalive.timeMs', keepalive.timeMs, 30_000, { min: 1, integer: true }),
      timeoutMs: numberOption('keepalive.timeoutMs', keepalive.timeoutMs, 10_000, {
        min: 1,
        integer: true,
      }),
      permitWithoutCalls: booleanOption(
        'keepalive.permitWithoutCalls',
        keepalive.permitWithoutCalls,
        false,
      ),
    },
    retry: {
      maxAttempts: numberOption('retry.maxAttempts', retry.maxAttempts, 3, {
        min: 0,
        max: 100,
        integer: true,
      }),
      initialDelayMs: numberOption('retry.initialDelayMs', retry.initialDelayMs, 50, {
        min: 0,
        integer: true,
      }),
      maxDelayMs: numberOption('retry.maxDelayMs', retry.maxDelayMs, 1000, {
        min: 0,
        integer: true,
      }),
    },
    breaker: breaker && {
      consecutiveFailures: numberOption(
        'breaker.consecutiveFailures',
        breaker.consecutiveFailures,
        5,
        { min: 1, max: 10_000, integer: true },
      ),
      halfOpenAfterMs: numberOption('breaker.halfOpenAfterMs', breaker.halfOpenAfterMs, 5000, {
        min: 1,
        integer: true,
      }),
    },
    connectTimeoutMs: numberOption('connectTimeoutMs', input.connectTimeoutMs, 5000, {
      min: 1,
      integer: true,
    }),
    rebuild: {
      transientFailureMs: numberOption(
        'rebuild.transientFailureMs',
        rebuild.transientFailureMs,
        5000,
        { min: 0, integer: true },
      ),
      initialBackoffMs: numberOption('rebuild.initialBackoffMs', rebuild.initialBackoffMs, 200, {
        min: 0,
        integer: true,
      }),
      maxBackoffMs: numberOption('rebuild.maxBackoffMs', rebuild.maxBackoffMs, 10_000, {
        min: 0,
        integer: true,
      }),
    },
    closeTimeoutMs: numberOption('closeTimeoutMs', input.closeTimeoutMs, 5000, {
      min: 0,
      integer: true,
    }),
    logger: input.logger ?? noopLogger,
  };
  if (resolved.retry.maxDelayMs < resolved.retry.initialDelayMs) {
    throw new InvalidOptionError('retry.maxDelayMs', 'must be >= retry.initialDelayMs');
  }
  if (resolved.rebuild.maxBackoffMs < resolved.rebuild.initialBackoffMs) {
    throw new InvalidOptionError('rebuild.maxBackoffMs', 'must be >= rebuild.initialBackoffMs');
  }
  return resolved;
}
