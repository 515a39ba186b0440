/**
 * Prometheus metrics (optional: needs the `prom-client` peer dependency when used).
 */
export { instrument } from './prometheus';
export type { InstrumentOptions, Instrumentation } from './prometheus';
export type { InstrumentableClient } from './client-metrics';
export { BREAKER_STATE_VALUES, CALL_DURATION_BUCKETS, CHANNEL_STATES } from './client-metrics';
export type { InstrumentableDiscovery, InstrumentableRegistration } from './service-metrics';
export { OUTAGE_BUCKETS } from './service-metrics';
export { MetricsUnavailableError } from './errors';
