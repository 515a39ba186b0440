/**
 * Creates prom-client metrics under one prefix in one registry, and removes them
 * all again on dispose.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describeValue } from '../validate';
import { InvalidOptionError } from '../errors';
import type { PromClientModule } from './prom-loader';

/** Prometheus metric name characters; the prefix may also be empty. */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Validates a metric name prefix such as `etcd3_resilient_`. */
export function assertMetricPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix))) {
    throw new InvalidOptionError(
      'prefix',
      `must match ${NAME} (or be ''), got ${describeValue(prefix)}`,
    );
  }
}

/** @internal The metrics one `instrument()` call owns. */
export class MetricSet {
  private readonly names: string[] = [];

  constructor(
    private readonly prom: PromClientModule,
    public readonly registry: Registry,
    private readonly prefix: string,
  ) {}

  counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect?: (counter: Counter<L>) => void,
  ): Counter<L> {
    return new this.prom.Counter<L>({
      name: this.claim(name),
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            collect(this: Counter<L>) {
              collect(this);
            },
          }
        : {}),
    });
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect?: (gauge: Gauge<L>) => void,
  ): Gauge<L> {
    return new this.prom.Gauge<L>({
      name: this.claim(name),
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            collect(this: Gauge<L>) {
              collect(this);
            },
          }
        : {}),
    });
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): Histogram<L> {
    return new this.prom.Histogram<L>({
      name: this.claim(name),
      help,
      labelNames,
      buckets,
      registers: [this.registry],
    });
  }

  /** Unregisters every metric created here. Idempotent. */
  dispose(): void {
    for (const name of this.names.splice(0)) {
      this.registry.removeSingleMetric(name);
    }
  }

  private claim(name: string): string {
    const full = `${this.prefix}${name}`;
    if (this.registry.getSingleMetric(full)) {
      throw new InvalidOptionError(
        'registry',
        `metric "${full}" is already registered: instrument() was called twice with the same registry and ` +
          'prefix. Dispose the first instrumentation, or give this one another prefix or registry.',
      );
    }
    this.names.push(full);
    return full;
  }
}
