/**
 * Options of {@link discover}, their defaults and validation.
 */
import { readKnownOptions, readMember } from '../policy/read-options';
import { numberOption } from '../validate';
import { DEFAULT_WATCH_TIMING } from '../watch/stall-detector';
import { InvalidOptionError } from '../errors';
import { isLogger, noopLogger, type Logger } from '../logger';
import {
  assertPrefix,
  assertServiceName,
  DEFAULT_PREFIX,
  goNamingCodec,
  type RecordCodec,
} from '../service-record';

/** Options of `discover(client, service, options)`. */
export interface DiscoveryOptions {
  /**
   * Key prefix the service lives under: records are read from
   * `<prefix><service>/<id>`. `''` or printable ASCII ending in `/`.
   * Defaults to `''` (Go's `endpoints.NewManager(client, "<service>")` layout).
   * @example 'services/'
   */
  prefix?: string;
  /** Decodes record values. Defaults to {@link goNamingCodec} (`{"Op":0,"Addr":…,"Metadata":…}`). */
  codec?: RecordCodec;
  /** pino-compatible logger; the discovery logs through `child({ component: 'discovery', service })`. Defaults to none. */
  logger?: Logger;
  /**
   * With no watch response at all for this long, the shared watch stream is probed
   * with a progress request; if that goes unanswered for `progressTimeoutMs`, the
   * stream is declared stalled and re-opened (on a rebuilt connection) and every
   * watch resumes from its last applied revision. In ms; defaults to 30000.
   */
  stallTimeoutMs?: number;
  /** How long a progress request may go unanswered before the stream counts as stalled, in ms. Defaults to 5000. */
  progressTimeoutMs?: number;
  /**
   * Watch only on members that have a leader (gRPC metadata `hasleader: true`,
   * Go's `WithRequireLeader`): a member cut off from the cluster ends the stream
   * and the watch moves to another member. Defaults to true.
   */
  requireLeader?: boolean;
  /** Keys read per range request when listing (pages share one revision). Defaults to 5000. */
  pageSize?: number;
  /** First delay before re-trying a failed list or re-opening the watch stream, in ms. Defaults to 100. */
  retryInitialDelayMs?: number;
  /** Largest such delay (exponential backoff with jitter), in ms. Defaults to 5000. */
  retryMaxDelayMs?: number;
}

/** Options with every default filled in. */
export interface ResolvedDiscoveryOptions {
  readonly prefix: string;
  readonly codec: RecordCodec;
  readonly logger: Logger;
  readonly stallTimeoutMs: number;
  readonly progressTimeoutMs: number;
  readonly requireLeader: boolean;
  readonly pageSize: number;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
}

/** Defaults of {@link DiscoveryOptions}. */
export const DISCOVERY_DEFAULTS = {
  stallTimeoutMs: DEFAULT_WATCH_TIMING.stallTimeoutMs,
  progressTimeoutMs: DEFAULT_WATCH_TIMING.progressTimeoutMs,
  requireLeader: true,
  pageSize: 5_000,
  retryInitialDelayMs: 100,
  retryMaxDelayMs: 5_000,
} as const;

/** Every key of {@link DiscoveryOptions}. */
export const DISCOVERY_KEYS = [
  'prefix',
  'codec',
  'logger',
  'stallTimeoutMs',
  'progressTimeoutMs',
  'requireLeader',
  'pageSize',
  'retryInitialDelayMs',
  'retryMaxDelayMs',
] as const;

/** Validates `service` and `options` and fills defaults. Throws {@link InvalidOptionError}. */
export function resolveDiscoveryOptions(
  service: unknown,
  options: DiscoveryOptions = {},
): ResolvedDiscoveryOptions {
  assertServiceName(service, 'service');
  if (options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  // A plain copy, each field read once (getters and Proxy traps cannot throw later);
  // a typo is an error with a "did you mean", not a default silently kept.
  options = readKnownOptions(options, DISCOVERY_KEYS, 'options', '') as DiscoveryOptions;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  assertPrefix(prefix, 'prefix');
  const codec = options.codec ?? goNamingCodec;
  if (typeof readMember(codec, 'decode', 'codec') !== 'function') {
    throw new InvalidOptionError('codec', 'must have a decode(key, value, service, id) function');
  }
  const logger = options.logger ?? noopLogger;
  if (!isLogger(logger)) {
    throw new InvalidOptionError(
      'logger',
      'must be a pino-compatible logger (error, warn, info, debug, child)',
    );
  }
  const requireLeader = options.requireLeader ?? DISCOVERY_DEFAULTS.requireLeader;
  if (typeof requireLeader !== 'boolean') {
    throw new InvalidOptionError('requireLeader', 'must be a boolean');
  }
  const resolved: ResolvedDiscoveryOptions = {
    prefix,
    codec,
    logger,
    requireLeader,
    stallTimeoutMs: positiveInt(options, 'stallTimeoutMs', 100),
    progressTimeoutMs: positiveInt(options, 'progressTimeoutMs', 10),
    pageSize: positiveInt(options, 'pageSize', 1),
    retryInitialDelayMs: positiveInt(options, 'retryInitialDelayMs', 1),
    retryMaxDelayMs: positiveInt(options, 'retryMaxDelayMs', 1),
  };
  if (resolved.retryMaxDelayMs < resolved.retryInitialDelayMs) {
    throw new InvalidOptionError('retryMaxDelayMs', 'must be at least retryInitialDelayMs');
  }
  return resolved;
}

type NumericKey =
  'stallTimeoutMs' | 'progressTimeoutMs' | 'pageSize' | 'retryInitialDelayMs' | 'retryMaxDelayMs';

function positiveInt(options: DiscoveryOptions, key: NumericKey, min: number): number {
  return numberOption(key, options[key], DISCOVERY_DEFAULTS[key], { min, integer: true });
}
