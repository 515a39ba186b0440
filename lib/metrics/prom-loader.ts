/**
 * Loads `prom-client` lazily, so the library works (and `import`s) without it.
 */
import type * as PromClient from 'prom-client';
import { MetricsUnavailableError } from './errors';

/** The parts of `prom-client` the metrics module uses. */
export type PromClientModule = Pick<
  typeof PromClient,
  'Counter' | 'Gauge' | 'Histogram' | 'register'
>;

/**
 * Returns the `prom-client` module, or throws {@link MetricsUnavailableError} when it
 * is not installed (or is too old to have `Counter`, `Gauge`, `Histogram`).
 *
 * @param load how to load it; defaults to `require('prom-client')`. Tests pass a fake.
 */
export function loadPromClient(
  load: () => unknown = () => require('prom-client'),
): PromClientModule {
  let mod: unknown;
  try {
    mod = load();
  } catch (err) {
    throw new MetricsUnavailableError(err);
  }
  const m = mod as Partial<PromClientModule> | undefined;
  if (
    !m ||
    typeof m.Counter !== 'function' ||
    typeof m.Gauge !== 'function' ||
    typeof m.Histogram !== 'function'
  ) {
    throw new MetricsUnavailableError(
      new TypeError('prom-client does not export Counter, Gauge and Histogram'),
    );
  }
  return m as PromClientModule;
}
