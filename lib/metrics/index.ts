/**
 * Prometheus metrics (optional: needs the `prom-client` peer dependency when used).
 */
export { instrument } from './prometheus';
export type { InstrumentOptions, Instrumentation } from './prometheus';
export type {
  InstrumentableClient,
  InstrumentableDiscovery,
  InstrumentableRegistration,
  MetricsRegistry,
} from './types';
export {
  BREAKER_STATE_VALUES,
  CALL_DURATION_BUCKETS,
  CHANNEL_STATES,
  OUTAGE_BUCKETS,
} from './types';
export { MetricsUnavailableError } from './errors';
