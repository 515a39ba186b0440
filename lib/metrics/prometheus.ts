/**
 * Prometheus metrics for the resilient client, its registrations and discoveries,
 * through `prom-client` (an optional peer dependency, loaded only when
 * {@link instrument} is called).
 */
import type { IDisposable } from 'cockatiel';
import type { Registry } from 'prom-client';
import { InvalidOptionError } from '../errors';
import { describeError } from '../policy/describe-error';
import { readKnownOptions, readMember } from '../policy/read-options';
import { instrumentClient } from './client-metrics';
import { assertMetricPrefix, MetricSet } from './metric-set';
import { loadPromClient } from './prom-loader';
import { ServiceMetrics } from './service-metrics';
import {
  CALL_DURATION_BUCKETS,
  type InstrumentableClient,
  type InstrumentableDiscovery,
  type InstrumentableRegistration,
  type MetricsRegistry,
} from './types';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** prom-client `Registry` the metrics are registered in. Defaults to prom-client's global `register`. */
  registry?: MetricsRegistry;
  /** Prefix of every metric name. Defaults to `'etcd3_resilient_'`. */
  prefix?: string;
  /** Buckets of `call_duration_seconds`, in seconds. Defaults to 1 ms .. 10 s ({@link CALL_DURATION_BUCKETS}). */
  callDurationBuckets?: number[];
  /** Registrations to follow from the start (more with {@link Instrumentation.addRegistration}). */
  registrations?: InstrumentableRegistration[];
  /** Discoveries to follow from the start (more with {@link Instrumentation.addDiscovery}). */
  discoveries?: InstrumentableDiscovery[];
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** The registry the metrics live in. */
  readonly registry: MetricsRegistry;
  /** Follows a `register()` handle: `registration_*` metrics. Dispose the result to stop. */
  addRegistration(registration: InstrumentableRegistration): IDisposable;
  /** Follows a `discover()` handle: `discovery_*` metrics. Dispose the result to stop. */
  addDiscovery(discovery: InstrumentableDiscovery): IDisposable;
  /** Unsubscribes from every event and removes every metric from the registry. Idempotent. */
  dispose(): void;
}

/**
 * Exposes the client's behaviour as Prometheus metrics (names below without the
 * default prefix `etcd3_resilient_`):
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `calls_total` | counter | service, method, code (`OK`, gRPC status name or `ERESILIENT_*`) |
 * | `call_duration_seconds` | histogram | service, method |
 * | `retries_total` | counter | method |
 * | `rebuilds_total` | counter | endpoint, reason |
 * | `breaker_state` | gauge 0 closed / 1 half-open / 2 open | endpoint |
 * | `breaker_transitions_total` | counter | endpoint, state |
 * | `channel_state` | gauge, 1 for the current state | endpoint, state |
 * | `healthy` | gauge 0/1 | |
 * | `registration_up` | gauge 0/1 | service, id |
 * | `registration_lost_total` | counter | service, reason |
 * | `registration_restored_total` | counter (lease re-grants) | service |
 * | `registration_outage_seconds` | histogram | service |
 * | `discovery_instances` | gauge | service |
 * | `discovery_resyncs_total` | counter | service |
 * | `discovery_watch_resumes_total` | counter | service |
 *
 * Gauges are read from `client.health()` and the handles at scrape time.
 *
 * @throws MetricsUnavailableError when `prom-client` is not installed.
 * @throws InvalidOptionError for a bad prefix or buckets, or when the metrics are
 *   already registered in that registry under that prefix.
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * const metrics = instrument(client, { registry });
 * metrics.addRegistration(register(client, { service: 'orders', addr: '10.0.0.5:8080' }));
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export function instrument(
  client: InstrumentableClient,
  options: InstrumentOptions = {},
): Instrumentation {
  if (options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  // Read once into a plain object: getters and Proxy traps cannot throw later, typos fail.
  options = readKnownOptions(options, INSTRUMENT_KEYS, 'options', '') as InstrumentOptions;
  const prefix = options.prefix ?? 'etcd3_resilient_';
  assertMetricPrefix(prefix);
  const buckets = options.callDurationBuckets ?? CALL_DURATION_BUCKETS;
  if (
    !Array.isArray(buckets) ||
    buckets.length === 0 ||
    !buckets.every(b => typeof b === 'number' && b > 0 && Number.isFinite(b))
  ) {
    throw new InvalidOptionError(
      'callDurationBuckets',
      'must be a non-empty array of positive numbers of seconds',
    );
  }
  if (
    typeof readMember(client, 'onCall', 'client') !== 'function' ||
    typeof readMember(client, 'health', 'client') !== 'function'
  ) {
    throw new InvalidOptionError(
      'client',
      "must be etcd3-resilient's Etcd3 (with onCall, onRetry, ... and health())",
    );
  }
  if (
    options.registry !== undefined &&
    !['getSingleMetric', 'removeSingleMetric', 'registerMetric', 'metrics'].every(
      m => typeof readMember(options.registry, m, 'registry') === 'function',
    )
  ) {
    throw new InvalidOptionError('registry', 'must be a prom-client Registry');
  }
  const registrations = handles(options.registrations, 'registrations');
  const discoveries = handles(options.discoveries, 'discoveries');
  const prom = loadPromClient();
  const set = new MetricSet(prom, (options.registry ?? prom.register) as Registry, prefix);
  let subs: IDisposable[] = [];
  let services: ServiceMetrics;
  try {
    subs = instrumentClient(
      client,
      set,
      [...buckets].sort((a, b) => a - b),
    );
    services = new ServiceMetrics(set);
  } catch (err) {
    for (const s of subs) s.dispose();
    set.dispose();
    throw err;
  }
  const follow = (list: object[], option: string, add: (h: any) => unknown) =>
    list.forEach((h, i) => {
      try {
        add(h);
      } catch (err) {
        for (const s of subs) s.dispose();
        services.dispose();
        set.dispose();
        throw new InvalidOptionError(
          `${option}[${i}]`,
          `must be a handle from ${option === 'registrations' ? 'register()' : 'discover()'}: ${describeError(err)}`,
        );
      }
    });
  follow(registrations, 'registrations', h => services.addRegistration(h));
  follow(discoveries, 'discoveries', h => services.addDiscovery(h));
  let disposed = false;
  return {
    registry: set.registry,
    addRegistration: reg => services.addRegistration(reg),
    addDiscovery: d => services.addDiscovery(d),
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const s of subs) s.dispose();
      services.dispose();
      set.dispose();
    },
  };
}

const INSTRUMENT_KEYS = [
  'registry',
  'prefix',
  'callDurationBuckets',
  'registrations',
  'discoveries',
] as const;

/** `value` as a plain array of objects (each read once), `[]` if undefined. */
function handles(value: unknown, option: string): object[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new InvalidOptionError(option, 'must be an array');
  }
  const out = [...(value as unknown[])];
  out.forEach((h, i) => {
    if (typeof h !== 'object' || h === null) {
      throw new InvalidOptionError(
        `${option}[${i}]`,
        'must be a handle from register()/discover()',
      );
    }
  });
  return out as object[];
}
