/**
 * Errors of the metrics module.
 */
import { ResilientEtcdError } from '../errors';

/**
 * `instrument()` was called but the optional peer dependency `prom-client` cannot be
 * loaded. Install it (`npm install prom-client`) or do not call `instrument()`: the
 * rest of the library works without it.
 */
export class MetricsUnavailableError extends ResilientEtcdError {
  public override readonly code: string = 'ERESILIENT_METRICS_UNAVAILABLE';
  constructor(cause: unknown) {
    super(
      'Metrics need the optional peer dependency "prom-client" (>= 14), which could not be loaded: ' +
        'run `npm install prom-client`, or do not call instrument().',
      { cause },
    );
  }
}
