/**
 * Public types and constants of the metrics module. Nothing here refers to
 * `prom-client`, so the library's type declarations load without it installed.
 */
import type { Etcd3 } from '../client';
import type { ChannelState } from '../channel/state';
import type { Discovery } from '../discovery/discovery';
import type { BreakerState } from '../pool/endpoint';
import type { Registration } from '../registry/register';

/** What the metrics read from a client: our `Etcd3` has all of it. */
export type InstrumentableClient = Pick<
  Etcd3,
  'onCall' | 'onRetry' | 'onRebuild' | 'onBreakerStateChange' | 'health'
>;
/** What the metrics read from a registration. */
export type InstrumentableRegistration = Pick<
  Registration,
  'instance' | 'state' | 'onLost' | 'onRestored'
>;
/** What the metrics read from a discovery. */
export type InstrumentableDiscovery = Pick<Discovery, 'service' | 'stats' | 'onResync'>;

/**
 * The parts of a prom-client `Registry` used here (structural, so that these
 * declarations do not need prom-client's). Pass a real `Registry`.
 */
export interface MetricsRegistry {
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Every channel state, so `channel_state{state}` has a 0 or 1 for each. */
export const CHANNEL_STATES: readonly ChannelState[] = [
  'IDLE',
  'CONNECTING',
  'READY',
  'TRANSIENT_FAILURE',
  'SHUTDOWN',
];

/**
 * Value of `breaker_state`: 0 closed, 1 half-open, 2 open. An isolated breaker
 * (calls blocked on purpose) counts as open.
 */
export const BREAKER_STATE_VALUES: Record<BreakerState, number> = {
  closed: 0,
  'half-open': 1,
  open: 2,
  isolated: 2,
};

/** Default buckets of `call_duration_seconds`, in seconds (1 ms .. 10 s; the default deadline is 5 s). */
export const CALL_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Buckets of `registration_outage_seconds`, in seconds. */
export const OUTAGE_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
